import pytest

from spinemark import anatomy


def test_ids_match_design():
    expected = {"C1": 1, "C7": 7, "T1": 8, "T12": 19, "L1": 20, "L5": 24, "L6": 25, "S1": 26, "Co": 27, "T13": 28,
                "S2": 29, "S5": 32}
    assert {n: anatomy.name_to_id(n) for n in expected} == expected
    assert anatomy.name_to_id("L4/L5") == 123 and anatomy.id_to_name(124) == "L5/S1"
    assert sorted(anatomy.VERTEBRA_IDS) == list(range(1, 33))


def test_order_is_anatomical_with_variants_between_neighbours():
    names = list(anatomy.VERTEBRA_NAMES)
    assert names.index("T12") < names.index("T13") < names.index("L1")
    assert names.index("L5") < names.index("L6") < names.index("S1") < names.index("S2")
    assert names[0] == "C1" and names[-1] == "Co"


@pytest.mark.parametrize(("kw", "tail"), [
    ({}, ("L4", "L5", "S1")),
    ({"n_lumbar": 6}, ("L5", "L6", "S1")),
    ({"n_lumbar": 4}, ("L3", "L4", "S1")),
])
def test_sequences_with_variants(kw, tail):
    seq = anatomy.standard_sequence(**kw)
    i = seq.index("S1")
    assert seq[i - 2:i + 1] == tail
    assert len(set(seq)) == len(seq)


def test_t13_and_eleven_thoracic():
    assert "T13" in anatomy.standard_sequence(n_thoracic=13)
    seq = anatomy.standard_sequence(n_thoracic=11)
    assert "T12" not in seq and seq[seq.index("T11") + 1] == "L1"


def test_neighbours_region_colour():
    assert anatomy.neighbours("L5") == ("L4", "S1")
    assert anatomy.neighbours("C1")[0] is None
    assert anatomy.region("T13") == "thoracic" and anatomy.region("Co") == "coccygeal"
    assert anatomy.colour(24) != anatomy.colour(23)
    assert anatomy.level("coccyx").id == 27 and anatomy.level("l5").name == "L5"
    with pytest.raises(KeyError):
        anatomy.level("X9")


def test_disc_names_keep_variant_neighbours():
    from spinemark.landmarks import Landmark, Landmarks

    assert anatomy.canonical_name("l5/l6") == "L5/L6" and anatomy.name_to_id("L5/L6") == 124
    assert anatomy.canonical_name("L5/S1") == "L5/S1"
    with pytest.raises(KeyError):
        anatomy.canonical_name("S1/L5")
    lms = Landmarks([Landmark("L6", (0, 0, 0)), Landmark("L5/L6", (0, 0, 10)), Landmark("L5", (0, 0, 20)),
                     Landmark("L6/S1", (0, 0, -10))])
    assert lms.names == ["L5", "L5/L6", "L6", "L6/S1"]


def test_reference_length_counts_the_levels_between():
    seq = anatomy.standard_sequence()
    assert anatomy.reference_length_mm("L1", "L2", seq) == anatomy.REFERENCE_SPACING_MM[("L1", "L2")]
    assert anatomy.reference_length_mm("L1", "L3", seq) == pytest.approx(35.1 + 36.0)
    assert anatomy.reference_length_mm("L4", "S1", anatomy.standard_sequence(n_lumbar=4)) == 39.0
    with pytest.raises(ValueError):
        anatomy.reference_length_mm("L3", "L1", seq)
    for n_thoracic in (11, 12, 13):  # every neighbouring pair of every count variant has its spacing
        for n_lumbar in (4, 5, 6):
            s = anatomy.standard_sequence(n_thoracic=n_thoracic, n_lumbar=n_lumbar)
            assert all(pair in anatomy.REFERENCE_SPACING_MM for pair in zip(s, s[1:]))
