"""Tests of the phantom generator on tiny phantoms (each well under a second)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinemark import anatomy
from spinemark.synth import CONTRASTS, PRESETS, TISSUES, PhantomConfig, generate_dataset, make_phantom
from spinemark.synth.presets import resolve_levels

TINY = {"shape": (64, 64, 24)}


def _voxel_labels(ph):
    ijk = np.rint(ph.landmarks.voxel_ijk()).astype(int)
    ijk = np.clip(ijk, 0, np.array(ph.labels.shape) - 1)
    return ph.labels.data[ijk[:, 0], ijk[:, 1], ijk[:, 2]]


@pytest.mark.parametrize("preset,seed", [("pelvic", 0), ("lumbar", 1), ("cervical", 2), ("thoracic", 3)])
def test_landmarks_lie_inside_their_bodies(preset, seed):
    ph = make_phantom(preset, seed=seed, shape=(96, 96, 32), spacing_mm=(2.5, 2.5, 2.5))
    assert len(ph.landmarks) >= 3
    got = _voxel_labels(ph)
    want = np.array([p.id for p in ph.landmarks])
    assert (got == want).all(), list(zip(ph.landmarks.names, got.tolist()))


def test_landmarks_match_label_centroids():
    ph = make_phantom("lumbar", seed=5, shape=(112, 128, 64), spacing_mm=(1.5, 1.5, 1.5), rotation_deg=10,
                      oblique_deg=10)
    lab = ph.labels.data
    checked = 0
    for p in ph.landmarks:
        m = lab == p.id
        if not m.any() or m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any() or m[..., 0].any() or m[..., -1].any():
            continue  # cut by the field of view: the label centroid is not the anatomical one
        c = ph.labels.voxel_to_world(np.argwhere(m).mean(0))
        assert np.linalg.norm(c - np.asarray(p.position_mm)) < 1.0, p.name
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("orientation", ["sagittal", "axial", "coronal"])
def test_every_preset_and_orientation_shows_its_promised_levels(preset, orientation):
    ph = make_phantom(preset, seed=11, orientation=orientation, **TINY)
    promised = ph.info["promised"]
    assert promised, "a preset promises at least one level"
    assert set(promised) <= set(ph.landmarks.names)
    if preset == "pelvic":
        assert {"S1", "L4"} <= set(ph.landmarks.names) or ph.config.n_lumbar == 4
    assert ph.image.shape == (64, 64, 24) and ph.labels.shape == (64, 64, 24)


def test_orientations_and_oblique_agree_in_world_space():
    kw = {"seed": 4, "shape": (64, 64, 32)}
    phs = [make_phantom("lumbar", orientation=o, **kw) for o in ("sagittal", "axial", "coronal")]
    phs.append(make_phantom("lumbar", orientation="sagittal", oblique_deg=20, **kw))
    ref = phs[0].landmarks
    for ph in phs[1:]:
        assert set(ph.info["promised"]) <= set(ph.landmarks.names)
        for p in ph.landmarks:
            if p.name in ref:
                assert np.allclose(p.position_mm, ref[p.name].position_mm, atol=1e-6)
    assert not np.allclose(phs[0].image.affine, phs[3].image.affine)


def test_fixed_grid_too_small_for_the_promise_warns():
    ph = make_phantom("lumbar", seed=4, orientation="axial", shape=(64, 64, 8), spacing_mm=(3.0, 3.0, 3.0))
    assert ph.landmarks.warnings and ph.image.shape == (64, 64, 8)


def test_vertebrae_ordered_cranial_to_caudal():
    ph = make_phantom("wholespine", seed=2, shape=(48, 160, 8), spacing_mm=(6.0, 6.0, 8.0))
    z = [p.position_mm[2] for p in ph.landmarks.vertebrae()]
    assert np.all(np.diff(z) < 0)
    names = ph.landmarks.vertebrae().names
    assert names == [n for n in ph.info["sequence"] if n in names]


@pytest.mark.parametrize("n_thoracic,n_lumbar,present,absent", [
    (12, 6, ["L6", anatomy.disc_id("L5"), anatomy.disc_id("L6")], []),
    (12, 4, [anatomy.disc_id("L4")], ["L5"]),
    (13, 5, ["T13", anatomy.disc_id("T12"), anatomy.disc_id("T13")], []),
    (11, 5, ["T11"], ["T12"]),
])
def test_count_variants(n_thoracic, n_lumbar, present, absent):
    ph = make_phantom("wholespine", seed=3, n_thoracic=n_thoracic, n_lumbar=n_lumbar, shape=(48, 160, 8),
                      spacing_mm=(6.0, 6.0, 8.0))
    seq = ph.info["sequence"]
    assert sum(anatomy.region(n) == "lumbar" for n in seq) == n_lumbar
    assert sum(anatomy.region(n) == "thoracic" for n in seq) == n_thoracic
    names = ph.landmarks.names
    ids = {p.id for p in ph.landmarks}
    for n in present:  # discs by id: the registry names disc 100 + id(upper) after the standard sequence
        assert (n in ids) if isinstance(n, int) else (n in names)
    for n in absent:
        assert n not in names and anatomy.name_to_id(n) not in np.unique(ph.labels.data)
    assert ph.config.n_lumbar == n_lumbar and ph.config.n_thoracic == n_thoracic
    if n_lumbar == 4:  # sacralization: the pelvic promise follows the last lumbar levels
        assert resolve_levels(PRESETS["pelvic"].levels, tuple(seq))[:3] == ["L3", "L4", "S1"]


def test_variant_probabilities_are_used():
    seqs = [make_phantom("pelvic", seed=s, p_l6=1.0, p_four_lumbar=0.0, shape=(32, 32, 8)).info["sequence"]
            for s in range(2)]
    assert all("L6" in s for s in seqs)


def test_seed_reproduces_the_same_phantom():
    a = make_phantom("pelvic", seed=7, **TINY)
    b = make_phantom("pelvic", seed=7, **TINY)
    c = make_phantom("pelvic", seed=8, **TINY)
    assert np.array_equal(a.image.data, b.image.data) and np.array_equal(a.labels.data, b.labels.data)
    assert np.array_equal(a.image.affine, b.image.affine) and a.landmarks.names == b.landmarks.names
    assert not np.array_equal(a.image.data, c.image.data)
    assert a.config == b.config


@pytest.mark.parametrize("contrast", CONTRASTS)
def test_contrasts_give_mri_like_values(contrast):
    ph = make_phantom("lumbar", seed=1, contrast=contrast, **TINY)
    d = ph.image.data
    assert d.dtype == np.float32 and np.isfinite(d).all() and d.min() >= 0
    assert 100 < float(d.max()) < 10000


def test_label_map_uses_registry_and_tissue_ids():
    ph = make_phantom("pelvic", seed=0, sex="female", **TINY)
    ids = set(np.unique(ph.labels.data).tolist()) - {0}
    allowed = set(anatomy.VERTEBRA_IDS) | {anatomy.disc_id(n) for n in anatomy.VERTEBRA_NAMES} | set(TISSUES.values())
    assert ids <= allowed
    assert {anatomy.name_to_id("S1"), TISSUES["iliac_bone"], TISSUES["spinal_canal_csf"]} <= ids


def test_thick_slices_and_small_phantom_speed():
    import time

    t = time.perf_counter()
    ph = make_phantom("lumbar", seed=0, shape=(64, 64, 24), spacing_mm=(4.0, 4.0, 6.0))
    assert time.perf_counter() - t < 2.0  # generous on a loaded CI machine; typically ~0.1 s
    assert np.allclose(ph.image.spacing_mm, [4.0, 4.0, 6.0])


def test_config_json_round_trip():
    ph = make_phantom("cervical", seed=0, **TINY)
    d = json.loads(ph.config.to_json())
    assert PhantomConfig.from_dict(d) == ph.config
    with pytest.raises(TypeError):
        make_phantom("pelvic", seed=0, not_a_field=1)
    with pytest.raises(ValueError):
        make_phantom("nowhere")


def test_generate_dataset_writes_readable_files(tmp_path):
    import nibabel as nib

    from spinemark.errors import OutputError
    from spinemark.io.writers import read_landmarks

    paths = generate_dataset(tmp_path, preset="lumbar", n=2, seed=5, shape=(32, 32, 8))
    assert len(paths) == 8
    stem = tmp_path / "synth_lumbar_0001"
    img = nib.load(f"{stem}.nii.gz")
    seg = nib.load(f"{stem}_seg.nii.gz")
    assert img.shape == seg.shape == (32, 32, 8) and np.allclose(img.affine, seg.affine)
    lms = read_landmarks(f"{stem}.landmarks.json")
    again = make_phantom("lumbar", seed=6, shape=(32, 32, 8))
    assert lms.names == again.landmarks.names
    assert np.allclose(lms.positions_mm, again.landmarks.positions_mm, atol=1e-3)
    cfg = json.loads((tmp_path / "synth_lumbar_0001.config.json").read_text())
    assert cfg["config"]["preset"] == "lumbar"
    with pytest.raises(OutputError):
        generate_dataset(tmp_path, preset="lumbar", n=1, seed=5, shape=(32, 32, 8))
    generate_dataset(tmp_path, preset="lumbar", n=1, seed=5, shape=(32, 32, 8), overwrite=True)


def test_generate_dataset_checks_every_phantoms_files_before_writing_any(tmp_path, monkeypatch):
    import spinemark.synth.phantom as phantom
    from spinemark.errors import OutputError

    (tmp_path / "synth_pelvic_0001.nii.gz").write_bytes(b"kept")
    monkeypatch.setattr(phantom, "make_phantom", lambda *a, **kw: pytest.fail("generated before the check"))
    with pytest.raises(OutputError) as info:
        generate_dataset(tmp_path, preset="pelvic", n=2)
    assert "synth_pelvic_0001.nii.gz" in str(info.value) and "exists" in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["synth_pelvic_0001.nii.gz"]
    (tmp_path / "synth_pelvic_0000.config.json").mkdir()  # a folder in the way is refused even with overwrite
    with pytest.raises(OutputError, match="synth_pelvic_0000.config.json: is a folder"):
        generate_dataset(tmp_path, preset="pelvic", n=2, overwrite=True)


def test_variant_discs_are_named_by_their_true_neighbours():
    from spinemark.synth import make_phantom

    names = make_phantom("pelvic", seed=1, n_lumbar=6, shape=(64, 64, 24), spacing_mm=(4.0, 4.0, 8.0)).landmarks.names
    assert "L5/L6" in names and "L6/S1" in names and "L5/S1" not in names


@pytest.mark.parametrize("n_thoracic,n_lumbar", [(12, 5), (13, 5), (11, 5), (12, 6), (12, 4)])
def test_reference_spacing_is_the_phantom_spine_at_body_scale_one(n_thoracic, n_lumbar):
    """Exact for standard counts; with a variant count the phantom spreads a region's sizes over one body more or
    less, which moves its other spacings by less than a millimetre."""
    from spinemark.synth.spine_model import sample_spine

    cfg = PhantomConfig(body_scale=1.0, degeneration=0.0, n_thoracic=n_thoracic, n_lumbar=n_lumbar)
    bodies = [e for e in sample_spine(cfg, np.random.default_rng(3)).elements if e.kind == "body" and e.name != "Co"]
    for a, b in zip(bodies, bodies[1:]):
        along = (a.s_lo + a.s_hi) / 2 - (b.s_lo + b.s_hi) / 2
        tol = 0.06 if (n_thoracic, n_lumbar) == (12, 5) else 1.0
        assert anatomy.REFERENCE_SPACING_MM[(a.name, b.name)] == pytest.approx(along, abs=tol)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_scoliotic_curve_bends_smoothly(seed):
    """The lateral curve bends in over centimetres, like the sagittal ones, with no kink at its ends (before: the
    tangent turned by up to 34 degrees within a millimetre there)."""
    from spinemark.synth.spine_model import sample_spine

    def max_bend(scoliosis_deg):
        spine = sample_spine(PhantomConfig(scoliosis_deg=scoliosis_deg), np.random.default_rng(seed))
        turn = np.linalg.norm(np.diff(spine.tangents, axis=0), axis=1) / np.diff(spine.s)
        return np.rad2deg(turn).max(), np.abs(spine.points[:, 0]).max()

    straight, _ = max_bend(0.0)
    bend, lateral = max_bend(25.0)
    assert lateral > 30  # a marked curve
    assert bend < max(1.5 * straight, 1.0)  # degrees per mm


@pytest.mark.parametrize("override", [
    {"noise": float("inf")}, {"bias": float("nan")}, {"gamma": 0}, {"body_scale": 0}, {"oblique_deg": float("nan")},
    {"raster_mm": -1.0}, {"p_l6": "0.5"}, {"k_visible": 0}, {"k_visible": 2.5}, {"degeneration": 2},
])
def test_out_of_range_options_are_refused_by_name(override):
    name = next(iter(override))
    with pytest.raises(ValueError, match=name):
        make_phantom("random", seed=0, shape=(32, 32, 8), **override)
