import csv
import io
import json

import nibabel as nib
import numpy as np
import pytest

from helpers import layout_volume
from spinemark.errors import OutputError
from spinemark.io.writers import (
    FORMATS,
    SLICER_SCHEMA,
    OutputInfo,
    landmark_label_map,
    landmarks_from_dict,
    landmarks_to_dict,
    landmarks_to_slicer_markups,
    landmarks_to_verse,
    read_landmarks,
    read_verse_centroids,
    render_outputs,
    write_files,
)
from spinemark.landmarks import Landmark, Landmarks
from spinemark.volume import Geometry, Volume


@pytest.fixture
def image():
    data, affine = layout_volume("sagittal")
    return Volume(data.astype(np.float32) * 100 + 10, affine)


@pytest.fixture
def lms(image):
    pts = [Landmark("L4", (3.0, -25.0, 60.0), 0.8), Landmark("L5", (3.0, -20.0, 40.0), 0.95),
           Landmark("S1", (3.0, -12.0, 15.0), 0.99), Landmark("L5/S1", (3.0, -16.0, 28.0), 0.7)]
    return Landmarks(pts, image.geometry)


def test_landmarks_json_follows_the_contract(lms, image):
    doc = landmarks_to_dict(lms, OutputInfo(method="dualhead", model={"name": "m", "version": "1", "sha256": "ab"},
                                            image_path="/data/scan.nii.gz"))
    assert doc["format"] == "spinemark.landmarks/1"
    assert doc["coordinate_system"] == "RAS"
    assert doc["image"] == {"path": "scan.nii.gz", "shape": list(image.shape), "affine": np.round(image.affine, 6).tolist()}
    assert [r["name"] for r in doc["landmarks"]] == ["L4", "L5", "L5/S1", "S1"]
    l5 = doc["landmarks"][1]
    assert set(l5) == {"name", "id", "position_mm", "voxel", "confidence"}
    assert l5["id"] == 24 and doc["landmarks"][2]["id"] == 124
    assert np.allclose(image.voxel_to_world(l5["voxel"]), l5["position_mm"], atol=0.01)
    back = landmarks_from_dict(json.loads(json.dumps(doc)))
    assert back.names == lms.names
    assert np.allclose(back.positions_mm, lms.positions_mm, atol=1e-3)


def test_csv_rows(lms):
    text = render_outputs(lms, ["csv"])["csv"].decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == lms.names
    assert float(rows[1]["z_mm"]) == 40.0 and rows[1]["id"] == "24"


def test_slicer_markups_schema_fields_and_known_point(lms, tmp_path):
    doc = landmarks_to_slicer_markups(lms)
    assert doc["@schema"] == SLICER_SCHEMA
    mk = doc["markups"][0]
    assert mk["type"] == "Fiducial" and mk["coordinateSystem"] == "LPS" and mk["coordinateUnits"] == "mm"
    assert len(mk["controlPoints"]) == 4
    for cp in mk["controlPoints"]:
        assert {"id", "label", "position", "orientation", "positionStatus"} <= set(cp)
        assert cp["positionStatus"] == "defined" and len(cp["position"]) == 3 and len(cp["orientation"]) == 9
    l5 = next(cp for cp in mk["controlPoints"] if cp["label"] == "L5")
    assert l5["position"] == [-3.0, 20.0, 40.0]  # RAS (3, -20, 40) in LPS
    path = tmp_path / "x.mrk.json"
    path.write_text(json.dumps(doc))
    back = read_landmarks(path)
    assert np.allclose(back["L5"].position_mm, (3.0, -20.0, 40.0))


def test_slicer_point_lists_as_slicer_writes_them(lms, tmp_path):
    from spinemark.errors import InputError

    doc = landmarks_to_slicer_markups(lms)
    mk = doc["markups"][0]
    # an unplaced slot of a named template, as Slicer 5 writes it, is left out
    mk["controlPoints"].append({"id": "9", "label": "L3", "position": "", "positionStatus": "undefined"})
    mk["coordinateSystem"], mk["coordinateUnits"] = "lps", "um"
    for cp in mk["controlPoints"][:-1]:
        cp["position"] = [1000.0 * v for v in cp["position"]]
    path = tmp_path / "x.mrk.json"
    path.write_text(json.dumps(doc))
    back = read_landmarks(path)
    assert back.names == lms.names
    assert np.allclose(back["L5"].position_mm, (3.0, -20.0, 40.0))
    for field, value, message in [("label", "F-1", r"point 1 \('F-1'\): not a vertebra"),
                                  ("position", [1.0, 2.0], r"point 1 .*is not three numbers"),
                                  ("coordinateUnits", "cm", "coordinateUnits 'cm'"),
                                  ("coordinateSystem", "IJK", "coordinateSystem 'IJK'")]:
        bad = landmarks_to_slicer_markups(lms)
        target = bad["markups"][0] if field.startswith("coordinate") else bad["markups"][0]["controlPoints"][0]
        target[field] = value
        path.write_text(json.dumps(bad))
        with pytest.raises(InputError, match=message):
            read_landmarks(path)


def test_verse_centroids_round_trip(lms, image, tmp_path):
    doc = landmarks_to_verse(lms)
    assert doc[0] == {"direction": list(nib.aff2axcodes(image.affine))}
    assert {"label", "X", "Y", "Z"} == set(doc[1])
    path = tmp_path / "x_ctd.json"
    path.write_text(json.dumps(doc))
    back = read_verse_centroids(path, image.geometry)
    assert np.allclose(back.positions_mm, lms.positions_mm, atol=0.02)


def test_label_map_spheres_on_input_grid(lms, image):
    lab = landmark_label_map(lms, image.geometry, radius_mm=3.0)
    assert lab.shape == image.shape
    assert set(np.unique(lab)) == {0, 23, 24, 26, 124}
    got = Landmarks.from_label_map(lab, image.affine)
    d = np.abs(np.subtract(got["L5"].position_mm, lms["L5"].position_mm))
    assert d[1] < 0.5 and d[2] < 0.5  # in-plane (A, S)
    assert d[0] <= 2.0  # through the 4 mm slices (R): at most half a slice


def test_label_map_keeps_a_voxel_for_thick_slices():
    geom = Geometry((20, 20, 5), np.diag([1.0, 1.0, 8.0, 1.0]))
    lab = landmark_label_map(Landmarks([Landmark("C3", (10, 10, 12.1))], geom), geom, radius_mm=2.0)
    assert (lab == 3).sum() >= 1


def test_qc_png_is_a_png(lms, image):
    png = render_outputs(lms, ["qc"], image=image)["qc"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    empty = render_outputs(Landmarks([], image.geometry), ["qc"], image=image)["qc"]  # the slice alone, no markers
    assert empty[:8] == png[:8] and empty != png


def test_qc_picture_lists_confidence_and_warnings_below_the_slice(lms, image):
    from spinemark.io.qc import qc_notes

    warned = Landmarks(list(lms), image.geometry, ["S1 not detected (out of view): names come from the level heatmaps "
                                                   "alone and are often one level off on a small field of view"])
    conf = sorted(p.confidence for p in lms.vertebrae())
    notes = qc_notes(warned, width_chars=60)
    assert notes[0] == f"confidence of the {len(conf)} vertebrae: median {np.median(conf):.2f}, lowest {conf[0]:.2f}"
    assert notes[1].startswith("warning: S1 not detected") and len(notes) == 4 and all(len(n) <= 60 for n in notes)
    assert qc_notes(Landmarks([], image.geometry)) == []
    known = Landmarks([Landmark("L5", lms["L5"].position_mm)])
    assert qc_notes(warned, width_chars=60, known=known)[1].startswith("names follow the known levels given")

    def height(png: bytes) -> int:  # from the PNG header
        return int.from_bytes(png[20:24], "big")

    plain = render_outputs(lms, ["qc"], image=image)["qc"]
    with_warning = render_outputs(warned, ["qc"], image=image)["qc"]
    assert height(with_warning) > height(plain)  # room for the warning's lines


def test_write_files_refuses_existing_and_leaves_nothing_partial(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    b.write_text("old")
    with pytest.raises(OutputError, match="exists"):
        write_files({a: b"new a", b: b"new b"})
    assert not a.exists() and b.read_text() == "old"
    write_files({a: b"new a", b: b"new b"}, overwrite=True)
    assert a.read_text() == "new a" and b.read_text() == "new b"
    assert not list(tmp_path.glob("*.part"))


def test_write_files_refuses_a_folder_in_a_files_place_before_writing_any(tmp_path):
    (tmp_path / "b.txt").mkdir()
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="is a folder"):
            write_files({tmp_path / "a.txt": b"a", tmp_path / "b.txt": b"b"}, overwrite=overwrite)
        assert not (tmp_path / "a.txt").exists()


def test_write_files_unwritable_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        write_files({blocker / "sub" / "a.txt": b"1"})


def test_every_format_renders(lms, image):
    out = render_outputs(lms, list(FORMATS), image=image)
    assert set(out) == set(FORMATS)


def test_known_levels_from_points_and_files(lms, tmp_path):
    from spinemark.errors import InputError
    from spinemark.io.writers import read_known_levels

    mrk = tmp_path / "k.mrk.json"
    mrk.write_text(json.dumps(landmarks_to_slicer_markups(lms)))
    known = read_known_levels(["l3: 1.5,-2,30", str(mrk)])
    assert known.names[0] == "L3" and np.allclose(known.points[0].position_mm, [1.5, -2.0, 30.0])
    assert known.names[1:] == lms.names and np.allclose(known.positions_mm[1:], lms.positions_mm, atol=1e-3)
    for bad in ["L3:1,2", "X9:1,2,3", "L3:a,b,c", "L3:nan,0,0", "L3:1,inf,2", str(tmp_path / "missing.json")]:
        with pytest.raises(InputError):
            read_known_levels([bad])
    with pytest.raises(InputError, match="unique"):
        read_known_levels(["L3:1,2,3", "L3:1,2,40"])
    with pytest.raises(InputError, match="missing.mrk.json: no such file"):
        read_known_levels([str(tmp_path / "missing.mrk.json")])


def test_qc_title_gives_the_slice_position_at_its_centre_on_an_oblique_scan(lms, image):
    from scipy.spatial.transform import Rotation

    from spinemark.io.qc import qc_figure

    turn = np.eye(4)
    turn[:3, :3] = Rotation.from_euler("z", 20, degrees=True).as_matrix()  # about the superior axis
    oblique = Volume(image.data, turn @ image.affine)
    moved = Landmarks([Landmark(p.name, turn[:3, :3] @ p.position_mm) for p in lms], oblique.geometry)
    title = qc_figure(oblique, moved).axes[0].get_title()
    r_mm = float(title.split("R=")[1].split(" mm")[0])
    r_lms = [p.position_mm[0] for p in moved]
    assert min(r_lms) - 5 <= r_mm <= max(r_lms) + 5, (title, r_lms)
