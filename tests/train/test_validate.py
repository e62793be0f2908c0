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


def test_a_split_not_found_in_the_data_is_an_error_not_an_empty_result(tiny_data, tmp_path, capsys):
    import json

    from spinemark.methods.dualhead import default_weights_path
    from spinemark.train.validate import main

    weights = str(default_weights_path())
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"validation": ["TINY_00", "OTHER_01"]}))
    assert main([weights, str(tmp_path / "nope"), str(split)]) == 1
    assert "data folder not found" in capsys.readouterr().err
    assert main([weights, str(tiny_data), str(split)]) == 1
    err = capsys.readouterr().err
    assert "1 validation case(s) of split" in err and "OTHER_01" in err
    split.write_text(json.dumps({"train": ["TINY_00"]}))
    assert main([weights, str(tiny_data), str(split)]) == 1
    assert "expected a JSON object with one list of case ids" in capsys.readouterr().err
