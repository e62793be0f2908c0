"""Sacral names on real scans, for reading by eye: a mid-sagittal picture of every scan's sacrum with the names given.

No real scan here labels S2..S5 (the dual-head model learned them from phantoms only), so every real scan is unseen
as far as those names go. This script runs a method on every image of the given subsets and draws, per scan, the
mid-sagittal slice through the predicted sacral centres (S1 and below; L5 for orientation), cropped to the
lumbosacral region, with the names. A person then reads each name against the picture (``--reading``, a CSV of
``case,name,verdict``) and the script counts the verdicts. The pictures and the table it prints are the evidence;
a reading is a person's, and says whose it is.

Usage (from the repository root)::

    python benchmarks/sacral_review.py ../shared/data/spine-mri --out runs/sacral_review
    python benchmarks/sacral_review.py ../shared/data/spine-mri --out runs/sacral_review --reading READING.csv --count
    python benchmarks/sacral_review.py ../shared/data/spine-mri --out runs/sacral_turn15 --decode sacral_turn_deg=15 \
        --reading READING.csv

Writes ``sacral_names.csv`` (case, name, position in mm, link length in mm to the name above, confidence) and
``sacral_<subset>_<n>.png`` (up to 12 scans a picture) into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from spinemark import anatomy, api
from spinemark.errors import OutputError
from spinemark.io.readers import load_volume
from spinemark.io.writers import write_files
from spinemark.volume import to_canonical, world_to_voxel

SHOWN = ("L5", "S1", "S2", "S3", "S4", "S5")
PER_PICTURE = 12
VERDICTS = ("right", "wrong segment", "off the sacrum", "unclear")


def sacral_rows(case: str, landmarks) -> list[dict]:
    """One row per predicted S1..S5 (and L5), in chain order, with the link to the name above."""
    rows, above = [], None
    for p in sorted(landmarks.vertebrae(), key=lambda p: p.order):
        pos = np.asarray(p.position_mm, float)
        if p.name in SHOWN:
            link = float(np.linalg.norm(pos - above)) if above is not None else None
            rows.append({"case": case, "name": p.name, "x_mm": round(float(pos[0]), 1), "y_mm": round(float(pos[1]), 1),
                         "z_mm": round(float(pos[2]), 1), "link_mm": None if link is None else round(link, 1),
                         "confidence": round(p.confidence, 3)})
        above = pos
    return rows


def panel(ax, volume, rows: list[dict], case: str) -> None:
    """The mid-sagittal slice through the rows' centres, lumbosacral region, names drawn."""
    canon = to_canonical(volume)
    pos = np.array([[r["x_mm"], r["y_mm"], r["z_mm"]] for r in rows])
    ijk = world_to_voxel(canon.affine, pos)
    step = canon.spacing_mm
    x = int(np.clip(np.round(np.median(ijk[:, 0])), 0, canon.shape[0] - 1))
    plane = canon.data[x].astype(np.float32)  # (anterior axis, superior axis)
    # region: 30 mm above the highest shown centre to 40 mm below the lowest, 60 mm either side of their middle
    lo_z = max(int(ijk[:, 2].min() - 40 / step[2]), 0)
    hi_z = min(int(ijk[:, 2].max() + 30 / step[2]) + 1, plane.shape[1])
    mid_y = float(np.median(ijk[:, 1]))
    lo_y = max(int(mid_y - 60 / step[1]), 0)
    hi_y = min(int(mid_y + 60 / step[1]) + 1, plane.shape[0])
    sub = plane[lo_y:hi_y, lo_z:hi_z]
    vals = sub[sub > 0] if np.any(sub > 0) else sub
    vmin, vmax = np.percentile(vals, [1, 99.5])
    # rows = superior axis (up), columns = anterior axis flipped so anterior is on the left
    ax.imshow(sub.T[:, ::-1], cmap="gray", vmin=vmin, vmax=vmax, origin="lower", interpolation="bilinear",
              extent=(hi_y * step[1], lo_y * step[1], lo_z * step[2], hi_z * step[2]))
    ax.set_xlim(hi_y * step[1], lo_y * step[1])
    for r, (_, j, k) in zip(rows, ijk):
        u, v = j * step[1], k * step[2]
        colour = anatomy.colour(anatomy.name_to_id(r["name"]))
        ax.scatter([u], [v], s=28, c=[colour], edgecolors="black", linewidths=0.6, zorder=3)
        ax.text(u + 8, v, r["name"], color=colour, fontsize=8, fontweight="bold", va="center", ha="right", zorder=4,
                bbox={"facecolor": "black", "alpha": 0.55, "pad": 0.5, "edgecolor": "none"})
    ax.set_title(f"{case} (x={x})", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def pictures(panels: list[tuple], subset: str) -> dict[str, bytes]:
    """PNG pictures of up to PER_PICTURE panels each, keyed by file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    for n in range(0, len(panels), PER_PICTURE):
        chunk = panels[n:n + PER_PICTURE]
        cols = min(len(chunk), 4)
        nrows = (len(chunk) + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(3.3 * cols, 3.6 * nrows), squeeze=False)
        for ax, (volume, rows, case) in zip(axes.flat, chunk):
            panel(ax, volume, rows, case)
        for ax in list(axes.flat)[len(chunk):]:
            ax.axis("off")
        fig.suptitle(f"{subset}: predicted L5 and sacral centres, mid-sagittal (anterior left)", fontsize=9)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        out[f"sacral_{subset}_{n // PER_PICTURE + 1}.png"] = buf.getvalue()
    return out


def count(reading: Path, names: list[dict]) -> str:
    """Markdown table of the verdicts per name; every predicted sacral name must have one."""
    with open(reading, newline="") as fh:
        verdicts = {(r["case"], r["name"]): r["verdict"].strip() for r in csv.DictReader(fh)}
    bad = sorted({v for v in verdicts.values() if v not in VERDICTS})
    if bad:
        raise SystemExit(f"{reading}: unknown verdicts {bad}; use one of {VERDICTS}")
    wanted = [(r["case"], r["name"]) for r in names if r["name"] != "L5"]
    missing = [k for k in wanted if k not in verdicts]
    if missing:
        raise SystemExit(f"{reading}: no verdict for {len(missing)} predicted names, e.g. {missing[:3]}")
    table = {name: Counter() for name in SHOWN[1:]}
    for key in wanted:
        table[key[1]][verdicts[key]] += 1
    lines = ["| name | predicted | " + " | ".join(VERDICTS) + " |", "|---" * (len(VERDICTS) + 2) + "|"]
    for name, c in table.items():
        lines.append(f"| {name} | {sum(c.values())} | " + " | ".join(str(c[v]) for v in VERDICTS) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="dataset folder with manifest.csv (../shared/data/spine-mri)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--subsets", default="VB3,VB1,IVD")
    ap.add_argument("--method", default="dualhead")
    ap.add_argument("--weights", type=Path, help="other weights for the method (default: the shipped model)")
    ap.add_argument("--decode", action="append", default=[], metavar="FIELD=VALUE",
                    help="method option, e.g. a decoding parameter: --decode sacral_turn_deg=15")
    ap.add_argument("--reading", type=Path, help="CSV case,name,verdict of a person's reading of the pictures")
    ap.add_argument("--count", action="store_true", help="with --reading: only count it against sacral_names.csv")
    args = ap.parse_args(argv)
    names_csv = args.out / "sacral_names.csv"
    if args.count:
        if not args.reading:
            ap.error("--count needs --reading")
        with open(names_csv, newline="") as fh:
            print(count(args.reading, list(csv.DictReader(fh))))
        return 0
    if args.out.exists():
        raise OutputError(args.out, "exists; remove it first")
    with open(args.data / "manifest.csv", newline="") as fh:
        cases = [r for r in csv.DictReader(fh) if r["subset"] in args.subsets.split(",") and not r["duplicate_of"]]
    from spinemark.cli import parse_assignments
    from spinemark.methods import get_method

    method = get_method(args.method, weights=args.weights, **parse_assignments(args.decode))
    files, all_rows = {}, []
    for subset in args.subsets.split(","):
        panels = []
        for r in (c for c in cases if c["subset"] == subset):
            case = f"{subset}_{r['case']}"
            volume = load_volume(args.data / subset / f"{case}_img.nii.gz")
            rows = sacral_rows(case, api.predict(volume, method).landmarks)
            all_rows += rows
            if any(row["name"] != "L5" for row in rows):
                panels.append((volume, rows, case))
            print(case, " ".join(f"{row['name']}:{row['link_mm']}" for row in rows), flush=True)
        files.update({args.out / k: v for k, v in pictures(panels, subset).items()})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(all_rows[0]) if all_rows else ["case"])
    writer.writeheader()
    writer.writerows(all_rows)
    files[names_csv] = buf.getvalue().encode()
    write_files(files)
    if args.reading:
        print(count(args.reading, all_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
