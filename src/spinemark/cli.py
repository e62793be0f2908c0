"""The ``spinemark`` command: thin subcommands over library functions.

Every subcommand returns an exit code: 0 success, 1 some input or output failed,
2 wrong usage. Heavy modules (torch, the methods) are imported inside the handlers so
``spinemark --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("spinemark")


def _get_parser() -> argparse.ArgumentParser:
    from spinemark import __version__
    from spinemark.io.writers import DEFAULT_FORMATS, FORMATS

    parser = argparse.ArgumentParser(
        prog="spinemark",
        description="Find and name the vertebrae in spine and pelvic MRI of any field of view.",
    )
    parser.add_argument("--version", action="version", version=f"spinemark {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument("-q", "--quiet", action="store_true", help="print errors only")
        g.add_argument("-v", "--verbose", action="store_true", help="print debug messages")

    p = sub.add_parser("predict", help="find and name the vertebrae of images")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files (NIfTI, NRRD, MHA/MHD) or folders (searched recursively; DICOM series recognised)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--method", default="dualhead", help="method name (see `spinemark info`); default: dualhead")
    p.add_argument("--weights", type=Path, help="other weights for the method (default: the shipped model)")
    p.add_argument("--decode", action="append", default=[], metavar="FIELD=VALUE",
                   help="method option (repeatable), e.g. a decoding parameter of dualhead "
                        "(spinemark.labeling.DecodeConfig): --decode s1_needs_caudal=true")
    p.add_argument("--formats", default=",".join(DEFAULT_FORMATS),
                   help=f"comma-separated output formats from {','.join(FORMATS)}; 'all' for every one "
                        f"(default: {','.join(DEFAULT_FORMATS)})")
    p.add_argument("--discs", action="store_true",
                   help="also write the disc centre between each two neighbouring vertebrae found (on the curve "
                        "through their centres; confidence the lower of the two)")
    p.add_argument("--summary", type=Path, metavar="CSV",
                   help="also write one row per input (status, vertebrae, confidence, warnings, error) to this file")
    p.add_argument("--known", action="append", default=[], metavar="NAME:X,Y,Z|FILE",
                   help="a vertebra whose name you know, at its body centre in RAS mm, or a landmarks/markups file "
                        "of them (repeatable; one input only): the names then agree with it, for a scan that shows "
                        "neither the sacrum nor C2, e.g. --known L3:12.5,-30,41; or a folder holding "
                        "<stem>.mrk.json (or <stem>.landmarks.json) for the inputs that have known levels")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    common(p)

    p = sub.add_parser("info", help="versions, devices, methods, shipped models and labels")
    p.add_argument("--labels", action="store_true", help="print the label registry only")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    common(p)

    p = sub.add_parser("synth", help="write synthetic labelled spine phantoms")
    p.add_argument("--preset", default="pelvic", help="field-of-view preset (default: pelvic)")
    p.add_argument("--n", type=int, default=10, help="number of phantoms (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--contrast", help="contrast preset (T1, T2, STIR, dixon_water, dixon_fat, random)")
    p.add_argument("--orientation", help="acquisition plane: sagittal, axial or coronal")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    common(p)

    p = sub.add_parser("evaluate", help="compare predictions with ground truth and write a report")
    p.add_argument("--pred", required=True, type=Path, help="folder of <stem>.landmarks.json predictions")
    p.add_argument("--truth", required=True, type=Path, help="folder of label masks or landmark files")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="report folder")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    common(p)

    p = sub.add_parser("train", help="train the dual-head model on a folder of labelled images (+ phantoms)")
    p.add_argument("--config", type=Path, help="training config JSON (fields of spinemark.train.TrainConfig)")
    p.add_argument("--data", type=Path, action="append", help="folder of images with label masks or landmark files")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field (JSON value), e.g. --set iterations=2000")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="RUNDIR", help="run folder")
    p.add_argument("--overwrite", action="store_true", help="replace the files of an earlier run in the folder")
    common(p)

    p = sub.add_parser("demo", help="make a pelvic phantom, predict its vertebrae and discs, write every format, "
                                    "print the error")
    p.add_argument("-o", "--output", type=Path, default=Path("spinemark-demo"), help="folder (default: spinemark-demo)")
    p.add_argument("--seed", type=int, default=0, help="phantom seed (default: 0)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    common(p)
    return parser


def _setup_logging(args) -> None:
    """Warnings (errors only with --quiet) from every library; with --verbose spinemark's own debug messages too."""
    level = logging.ERROR if getattr(args, "quiet", False) else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
    logging.getLogger("spinemark").setLevel(logging.DEBUG if getattr(args, "verbose", False) else logging.NOTSET)


def _say(args, msg: str) -> None:
    if not getattr(args, "quiet", False):
        print(msg)


def _err(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


def _outputs_among(paths, inputs, outdir: Path, formats) -> list[str]:
    """Those of ``paths`` that an output of predicting ``inputs`` into ``outdir`` would replace."""
    from spinemark.errors import SpinemarkError
    from spinemark.io.readers import find_inputs, image_stem
    from spinemark.io.writers import output_paths

    try:
        files = find_inputs(inputs)
    except SpinemarkError:
        return []  # reported by the batch
    outputs = {p.resolve() for f in files for p in output_paths(outdir, image_stem(f), formats).values()}
    return [p for p in paths if Path(p).resolve() in outputs]


def _cmd_predict(args) -> int:
    from tqdm import tqdm

    from spinemark.api import batch_summary_csv, predict_batch
    from spinemark.errors import SpinemarkError
    from spinemark.io.writers import FORMATS, write_files

    formats = [f.strip() for f in args.formats.lower().split(",") if f.strip()]
    formats = list(FORMATS) if formats == ["all"] else formats
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        _err(f"unknown format(s) {', '.join(bad)}" if bad else "no output format given")
        _err(f"choose from {', '.join(FORMATS)}, or all")
        return 2
    if args.summary and args.summary.is_dir():
        _err(f"--summary {args.summary}: is a folder; give a file name")
        return 2
    from spinemark.methods import get_method

    try:
        method = get_method(args.method, weights=args.weights, **parse_assignments(args.decode))
    except KeyError as exc:
        _err(str(exc).strip("'\""))
        return 2
    except (TypeError, ValueError) as exc:
        _err(f"--decode {' '.join(args.decode)}: {exc}")
        return 2
    except (SpinemarkError, FileNotFoundError) as exc:
        _err(str(exc).strip("'\""))
        return 1
    known = None
    if len(args.known) == 1 and Path(args.known[0]).is_dir():
        known = Path(args.known[0])  # a folder of <stem>.mrk.json files, one per input that has known levels
    elif args.known:
        from spinemark.io.writers import read_known_levels

        try:
            known = read_known_levels(args.known)
        except SpinemarkError as exc:
            _err(str(exc))
            return 2
        replaced = _outputs_among(args.known, args.inputs, args.output, formats)
        if replaced:
            _err(f"--known {replaced[0]}: an output of this run would replace it; copy it out of {args.output} first")
            return 2
    if args.summary and args.summary.exists() and not args.overwrite:
        _err(f"{args.summary}: output exists; use --overwrite to replace it")
        return 1
    created = not args.output.exists()
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _err(f"{args.output}: cannot create output folder ({exc.strerror or exc})")
        return 1

    def progress(items):
        return tqdm(items, desc="predict", unit="scan", disable=args.quiet or len(items) < 2, file=sys.stderr)

    try:
        results = predict_batch(args.inputs, args.output, method=method, formats=formats, overwrite=args.overwrite,
                                progress=progress, known=known, discs=args.discs)
    except ValueError as exc:  # wrong usage, such as known levels with several inputs (the finally still runs)
        _err(str(exc))
        return 2
    except (SpinemarkError, FileNotFoundError) as exc:
        _err(str(exc).strip("'\""))
        results = None
    finally:
        if created and not any(args.output.iterdir()):
            args.output.rmdir()  # made for this run and left empty: nothing to leave behind
    if results is None:
        return 1
    for r in results:
        if r.ok:
            log.info("%s: %d landmarks -> %s", r.input, r.n_landmarks, ", ".join(p.name for p in r.outputs))
        else:
            _err(r.error)
    n_ok = sum(r.ok for r in results)
    if args.summary:
        try:
            write_files({args.summary: batch_summary_csv(results).encode()}, overwrite=True)
        except SpinemarkError as exc:
            _err(str(exc))
            return 1
    where = f"outputs in {args.output}" if n_ok else "nothing written"
    _say(args, f"{n_ok} of {len(results)} inputs done, {len(results) - n_ok} failed; {where}")
    return 0 if n_ok == len(results) else 1


def _cmd_info(args) -> int:
    from spinemark import anatomy
    from spinemark.info import system_info

    if args.labels:
        rows = anatomy.table()
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            print(f"{'name':<5} {'id':>3}  {'region':<10} {'variant':<7} disc below")
            for r in rows:
                disc = r["disc_below"]
                below = f"{disc['name']} = {disc['id']}" if disc else "-"
                print(f"{r['name']:<5} {r['id']:>3}  {r['region']:<10} {'yes' if r['variant'] else '':<7} {below}")
        return 0
    info = system_info()
    if args.json:
        info["labels"] = anatomy.table()
        print(json.dumps(info, indent=1))
        return 0
    for key in ("spinemark", "python", "platform"):
        print(f"{key:<10} {info[key]}")
    print("packages   " + ", ".join(f"{k} {v}" for k, v in info["packages"].items()))
    print("devices    " + ", ".join(info["devices"]))
    print("methods")
    for name, summary in info["methods"].items():
        print(f"  {name:<10} {summary}")
    print("models")
    for m in info["models"] or [{"name": "(none shipped)", "sha256": ""}]:
        print(f"  {m['name']:<16} {m.get('sha256', '')[:16]}  {m.get('summary', '')}")
    print(f"labels     {len(anatomy.LEVELS)} vertebrae ({', '.join(anatomy.VERTEBRA_NAMES)}) and their discs; "
          "`spinemark info --labels` lists ids")
    return 0


def _cmd_synth(args) -> int:
    from tqdm import tqdm

    from spinemark.errors import SpinemarkError
    from spinemark.synth import CONTRASTS, ORIENTATIONS, PRESETS, generate_dataset

    for option, value, known in (("--preset", args.preset, PRESETS), ("--contrast", args.contrast, CONTRASTS),
                                 ("--orientation", args.orientation, ORIENTATIONS)):
        if value is not None and value not in known:
            _err(f"{option}: unknown value {value!r}; choose from {', '.join(known)}")
            return 2
    if args.n < 1 or args.seed < 0:
        _err("--n must be at least 1 and --seed at least 0")
        return 2
    overrides = {k: v for k, v in (("contrast", args.contrast), ("orientation", args.orientation)) if v}

    def progress(items):
        return tqdm(items, desc="synth", unit="phantom", disable=args.quiet, file=sys.stderr)

    try:
        paths = generate_dataset(args.output, preset=args.preset, n=args.n, seed=args.seed,
                                 overwrite=args.overwrite, progress=progress, **overrides)
    except (SpinemarkError, ValueError) as exc:
        _err(str(exc))
        return 1
    _say(args, f"{args.n} {args.preset} phantoms ({len(paths)} files) in {args.output}")
    return 0


def _cmd_evaluate(args) -> int:
    from tqdm import tqdm

    from spinemark.errors import SpinemarkError
    from spinemark.evaluate import evaluate_dirs

    def progress(items):
        return tqdm(items, desc="evaluate", unit="scan", disable=args.quiet, file=sys.stderr)

    try:
        summary = evaluate_dirs(args.pred, args.truth, args.output, overwrite=args.overwrite, progress=progress)
    except SpinemarkError as exc:
        _err(str(exc))
        return 1
    for problem in summary.errors:
        _err(problem)
    _say(args, summary.headline())
    return 1 if summary.errors else 0


def parse_assignments(items) -> dict:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``: values are JSON where they parse, else strings.

    Raises:
        ValueError: An item without ``=``.
    """
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"{item!r}: expected FIELD=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _cmd_train(args) -> int:
    from spinemark.errors import SpinemarkError
    from spinemark.train import TrainConfig, train
    from spinemark.train.config import read_config_file, unknown_fields
    from spinemark.train.loop import TrainingInterrupted

    try:  # usage errors (2): the config file, --set, and the type or range of a value
        fields = read_config_file(args.config) if args.config else {}
        try:
            sets = parse_assignments(args.set)
        except ValueError as exc:
            _err(f"--set {exc}")
            return 2
        problem = unknown_fields(sets)
        if problem:
            _err(f"--set: {problem}")
            return 2
        fields.update(sets)  # CLI > config file > defaults
        if args.data:
            fields["data"] = [str(d) for d in args.data]
        fields["output"] = str(args.output)
        cfg = TrainConfig.from_dict(fields)
        if not cfg.data and cfg.phantoms <= 0:
            raise ValueError("nothing to train on: give data folders (--data) and/or phantoms (--set phantoms=N)")
    except (SpinemarkError, ValueError) as exc:
        _err(str(exc))
        return 2
    if args.output.is_dir() and any(args.output.iterdir()) and not args.overwrite:
        _err(f"{args.output}: run folder exists and is not empty; use --overwrite to replace its run")
        return 1

    def report(row: dict) -> None:
        if not args.quiet:
            print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                  flush=True)

    try:
        weights = train(cfg, callback=report)
    except TrainingInterrupted as exc:
        _err(str(exc))
        return 130
    except KeyboardInterrupt:
        _err("training interrupted before it started; no run written")
        return 130
    except (SpinemarkError, ValueError, TypeError, OSError) as exc:
        _err(str(exc))
        return 1
    _say(args, f"trained: weights {weights}; config, data list, commit and curves beside them")
    return 0


def _cmd_demo(args) -> int:
    from spinemark.demo import run_demo
    from spinemark.errors import SpinemarkError

    try:
        result = run_demo(args.output, seed=args.seed, overwrite=args.overwrite)
    except SpinemarkError as exc:
        _err(str(exc))
        return 1
    _say(args, result.report())
    return 0


_HANDLERS = {
    "predict": _cmd_predict,
    "info": _cmd_info,
    "synth": _cmd_synth,
    "evaluate": _cmd_evaluate,
    "train": _cmd_train,
    "demo": _cmd_demo,
}


def main(argv: list[str] | None = None) -> int:
    """Run the ``spinemark`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = _get_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    _setup_logging(args)
    return _HANDLERS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
