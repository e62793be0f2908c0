"""Field-of-view benchmark: the project's published accuracy table.

Crops every labelled scan of the dataset into the fields of view users meet (full, pelvic-like,
lumbosacral, upper lumbar, mid lumbar, random k-vertebra windows, thick 4 mm slices), runs a registered
method on each and writes ``fov_report.md``, ``fov_summary.json`` and per-scan CSVs (see
``benchmarks/README.md``).

Usage:
    python benchmarks/fov_benchmark.py --method dualhead --cases splits/val.json --out docs/benchmarks/fov
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import sys
from pathlib import Path

from spinemark.info import git_commit

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "spine-mri"
QUOTES = "'\""  # around a KeyError's message


def _get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="dataset folder holding manifest.csv (columns subset,case; each case's files "
                        "<subset>/<subset>_<case>_img.nii.gz and <subset>/<subset>_<case>_seg-vert_msk.nii.gz)")
    p.add_argument("--method", default="dualhead", help="registered method name (spinemark.methods)")
    p.add_argument("--weights", default=None, help="weights file for the method (default: its shipped weights)")
    p.add_argument("--decode", action="append", default=[], metavar="FIELD=VALUE",
                   help="method option, e.g. a decoding parameter: --decode use_s1_head=false")
    p.add_argument("--subsets", default="VB3,VB1", help="comma-separated subsets of the manifest")
    p.add_argument("--cases", default=None,
                   help="cases to use: a comma list (VB3_01,VB3_02), a JSON file holding a list, or a JSON split "
                        "file {'val': [...], ...} read with --split-key; default: every case of the subsets")
    p.add_argument("--split-key", default=None,
                   help="key of the case list in a JSON split file (default: 'validation' or 'val')")
    p.add_argument("--variants", default="all", help="comma list of variants, 'random' for every random_k, or 'all'")
    p.add_argument("--seed", type=int, default=0, help="seed of the random crops")
    p.add_argument("--all-windows", action="store_true",
                   help="score every window of k consecutive labelled vertebrae, not one seeded window per k")
    p.add_argument("--known-middle", action="store_true",
                   help="give the method the name and labelled centre of the middle vertebra in view (a person's "
                        "known level, spinemark predict --known); scored with the others")
    p.add_argument("--out", type=Path, default=Path("fov_benchmark_out"), help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def read_results_rows(path: str | Path, columns: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """The rows of a ``fov_results.csv`` this script wrote.

    Raises:
        ValueError: Naming the file: it cannot be read, or it lacks one of ``columns``.
    """
    import csv

    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: cannot read it ({exc})") from exc
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path}: not a fov_results.csv of fov_benchmark.py (no column {', '.join(missing)})")
    return rows


def read_cases(arg: str | None, split_key: str) -> list[str] | None:
    """Case keys from ``--cases``: None (all), a comma list, or a JSON list / split file."""
    if not arg:
        return None
    path = Path(arg)
    if path.suffix == ".json" or ("," not in arg and path.is_file()):  # a long comma list is no file name
        doc = json.loads(path.read_text())
        if isinstance(doc, dict):
            key = split_key or next((k for k in ("validation", "val") if k in doc), "validation")
            if key not in doc:
                raise ValueError(f"{path}: no key {key!r} in the split file (keys: {', '.join(doc)})")
            doc = doc[key]
        return [str(c) if not isinstance(c, dict) else str(c.get("key") or c.get("case")) for c in doc]
    return [c for c in arg.split(",") if c.strip()]


def run(args: argparse.Namespace, method=None) -> int:
    """Run the benchmark; ``method`` overrides ``--method`` (tests pass a fake)."""
    import spinemark
    from spinemark.evaluate.fov import DEFAULT_VARIANTS, expand_variants, load_cases, run_fov_benchmark
    from spinemark.evaluate.fov_report import check_free, write_fov_report

    if not args.overwrite:
        check_free(args.out)
    variants = list(DEFAULT_VARIANTS) if args.variants == "all" else expand_variants(args.variants.split(","))
    cases = load_cases(args.data, [s for s in args.subsets.split(",") if s], read_cases(args.cases, args.split_key))
    if not cases:
        print("no cases selected", file=sys.stderr)
        return 2
    if method is None:
        from spinemark.cli import parse_assignments
        from spinemark.methods import get_method

        method = get_method(args.method, weights=args.weights, **parse_assignments(args.decode))
    progress = None
    if not args.quiet:
        from tqdm import tqdm

        def progress(it):
            return tqdm(it, desc="cases", unit="scan")

    results = run_fov_benchmark(method, cases, variants, seed=args.seed, progress=progress,
                                all_windows=args.all_windows, known_middle=args.known_middle)
    meta = {
        "method": getattr(method, "name", args.method),
        "model": json.dumps(getattr(method, "model_info", {}) or {}),
        "weights": args.weights or "shipped default",
        "options": " ".join(args.decode) or "defaults",
        "data": str(args.data),
        "subsets": args.subsets,
        "cases": f"{len(cases)} ({args.cases or 'all'})",
        "variants": ",".join(variants),
        "seed": args.seed,
        "random_k windows": "every window" if args.all_windows else "one per case (seed)",
        "known levels": "the middle labelled vertebra in view" if args.known_middle else "none",
        "spinemark": spinemark.__version__,
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/fov_benchmark.py " + " ".join(sys.argv[1:]),
    }
    written = write_fov_report(results, args.out, meta, overwrite=args.overwrite)
    print(f"wrote {len(written)} files to {args.out}; report: {args.out / 'fov_report.md'}")
    unread = [r for r in results if r.variant == "load"]
    for r in unread:
        print(f"error: case {r.case} could not be read and is not in the scores: {r.error}", file=sys.stderr)
    return 1 if unread else 0


def main(argv=None) -> int:
    args = _get_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from spinemark.errors import SpinemarkError

    try:
        return run(args)
    except (SpinemarkError, KeyError, ValueError, OSError) as exc:
        print(f"error: {str(exc).strip(QUOTES)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
