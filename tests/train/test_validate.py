from spinemark.train.validate import markdown, score_case, summarise


def _result():
    truth = {"L4": [0, 0, 0], "L5": [0, 0, -30]}
    rows = score_case(truth, {"L4": [0, 0, -29], "L5": [0, 0, -60]})  # named one level too high
    for r in rows:
        r["case"] = "X_01"
    return {"overall": summarise(rows), "per_subset": {"X": summarise(rows)},
            "per_level": {r["level"]: summarise([r]) for r in rows},
            "cases": [{"case": "X_01", "predicted": ["L4", "L5"], "warnings": ["w"], **summarise(rows)}]}


def test_one_level_shift_is_not_identified():
    res = _result()
    assert res["overall"]["id_rate"] == 0.0 and res["overall"]["mean_mm"] == 29.5


def test_markdown_tables():
    text = markdown(_result())
    assert "| all | 2 | 0.0% | 2 | 29.50 | 29.50 | 0.0% | 0.0% |" in text
    assert "| L5 | 1 | 0.0% | 1 | 30.00 |" in text
    assert "| X_01 | 0% | 29.5 | L4 L5 | w |" in text
