"""A copy of the spine-mri dataset with VB1's provisional level names moved one level down (lowest = S1).

VB1's upstream files carry no level names; the dataset took the lowest labelled body to be L5. Read on
the mid-sagittal slices (``--figure``), that body sits at the lumbosacral angle of every patient: a full
disc above it, the sacral segments continuing below it behind thin (rudimentary) disc lines, which is S1,
not L5. This script writes the alternative reading as a dataset folder that every tool takes as it is
(``validate``, ``benchmarks/fov_benchmark.py``, ``spinemark train``): VB1 masks relabelled one level
caudally (T9..L5 -> T10..S1; VB1's ``_ctd.json`` files, which carry the old names, are left out),
everything else linked to the original files. Nothing is written inside the original folder.

Usage (from the repository root)::

    python benchmarks/reread_vb1.py ../shared/data/spine-mri runs/spine-mri-vb1-s1 --figure runs/vb1_reading.png
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
from pathlib import Path

import numpy as np

from spinemark import anatomy
from spinemark.errors import OutputError
from spinemark.io.writers import write_files


def next_down(name: str) -> str:
    """The next vertebra caudally in standard anatomy (T12 -> L1, L5 -> S1)."""
    return anatomy.neighbours(name)[1]


def shift_down(label_id: int) -> int:
    """The label id of :func:`next_down`."""
    return anatomy.name_to_id(next_down(anatomy.id_to_name(label_id)))


def relabel(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every vertebra id moved one level caudally; other ids unchanged."""
    out = mask.copy()
    for i in np.unique(mask):
        if i > 0 and anatomy.is_vertebra(int(i)):
            out[mask == i] = shift_down(int(i))
    return out


def reread(data: Path, out: Path, subset: str = "VB1") -> list[str]:
    """Write the re-read dataset to ``out``; returns the relabelled case keys."""
    import nibabel as nib

    if out.exists():
        raise OutputError(out, "exists; remove it first")
    with open(data / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    files: dict[Path, bytes] = {}
    done = []
    for r in rows:
        if r["subset"] != subset or r.get("duplicate_of", "").strip():
            continue
        stem = f"{subset}_{r['case']}"
        img = nib.load(data / subset / f"{stem}_seg-vert_msk.nii.gz")
        lab = np.asarray(img.dataobj).astype(np.int16)
        new = nib.Nifti1Image(relabel(lab).astype(img.get_data_dtype()), img.affine, img.header)
        files[out / subset / f"{stem}_seg-vert_msk.nii.gz"] = gzip.compress(new.to_bytes())
        r["labels"] = " ".join(next_down(n) for n in r["labels"].split())
        r["label_status"] = "provisional(lowest=S1, re-read)"
        done.append(stem)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    files[out / "manifest.csv"] = text.getvalue().encode()
    write_files(files)
    for src in sorted(data.rglob("*")):  # file links: directory links are not searched by Path.rglob
        rel = src.relative_to(data)
        stale = rel.parts[0] == subset and src.name.endswith("_ctd.json")  # centroids under the old names
        if src.is_file() and not stale and out / rel not in files:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).symlink_to(src.resolve())
    return done


def figure(data: Path, path: Path, subset: str = "VB1") -> None:
    """One mid-sagittal crop per patient around the three lowest labelled bodies (outlined)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import nibabel as nib

    stems = sorted({p.name[: -len("_img.nii.gz")] for p in (data / subset).glob(f"{subset}_*_img.nii.gz")})
    fig, axes = plt.subplots(2, (len(stems) + 1) // 2, figsize=(3.2 * ((len(stems) + 1) // 2), 7))
    for ax, stem in zip(axes.flat, stems):
        img = np.asarray(nib.load(data / subset / f"{stem}_img.nii.gz").dataobj, dtype=np.float32)
        lab = np.asarray(nib.load(data / subset / f"{stem}_seg-vert_msk.nii.gz").dataobj).astype(int)
        z = int(np.argmax((lab > 0).sum((0, 1))))  # axis 0 superior->inferior, 1 anterior->posterior
        ids = sorted(int(i) for i in np.unique(lab[:, :, z]) if i > 0)[-3:]
        ys, xs = np.nonzero(np.isin(lab[:, :, z], ids))
        y0, x0 = max(ys.min() - 20, 0), max(xs.min() - 30, 0)
        sl = img[y0:y0 + 160, x0:x0 + 170, z]
        ax.imshow(sl, cmap="gray", vmin=np.percentile(sl, 1), vmax=np.percentile(sl, 99.5))
        for i, colour in zip(ids, ("tab:green", "tab:blue", "tab:red")):
            ax.contour(lab[y0:y0 + 160, x0:x0 + 170, z] == i, levels=[0.5], colors=colour, linewidths=1)
        ax.set_title(f"{stem}: red = lowest labelled", fontsize=8)
        ax.axis("off")
    for ax in list(axes.flat)[len(stems):]:
        ax.axis("off")
    fig.suptitle("VB1: the three lowest labelled bodies, mid-sagittal (provisional: red = L5; re-read: red = S1)",
                 fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    write_files({path: buf.getvalue()})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="the spine-mri folder (manifest.csv, VB1/, ...)")
    ap.add_argument("out", type=Path, help="new folder for the re-read dataset")
    ap.add_argument("--figure", type=Path, help="also write the mid-sagittal reading figure (PNG) here")
    args = ap.parse_args(argv)
    try:
        if args.figure and args.figure.exists():  # refuse before writing the dataset, not after
            raise OutputError(args.figure, "exists; remove it first")
        done = reread(args.data, args.out)
        if args.figure:
            figure(args.data, args.figure)
    except (OutputError, OSError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {len(done)} VB1 series relabelled one level down (T9..L5 -> T10..S1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
