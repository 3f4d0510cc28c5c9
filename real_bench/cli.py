"""`real-bench`: a thin command line over real_bench's Python API.

Bad input and missing prerequisites end with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from real_bench import __version__
from real_bench.errors import BenchError


def _cmd_import(args: argparse.Namespace) -> int:
    from real_bench.importers import load_files, write_table

    records = load_files([Path(f) for f in args.files], mode=args.mode,
                         placement=args.placement)
    write_table(records, Path(args.out))
    if args.jsonl:
        from real_bench.record import write_jsonl

        write_jsonl(Path(args.jsonl), records)
    bad = sum(not r.validity.valid for r in records)
    print(f"{len(records)} records ({bad} invalid) -> {args.out}")
    return 0


def _cmd_local(args: argparse.Namespace) -> int:
    from real_bench.local import netns, runner

    if args.cleanup:
        removed = netns.sweep_stale()
        dirs = runner.sweep_stale_workdirs()
        print(f"removed {len(removed)} stale namespaces" + (f": {removed}" if removed else "")
              + f" and {len(dirs)} temp dirs (CA keys, certs, logs)"
              + (f": {', '.join(map(str, dirs))}" if dirs else ""))
        return 0
    if args.rerun_spoiled:
        out = Path(args.out)
        records = runner.rerun_spoiled(out, log=lambda line: print(line, flush=True))
        from real_bench.importers import write_table

        write_table(records, out / "table.csv")
        return 0
    m = runner.quick_matrix() if args.quick else runner.LocalMatrix()
    if args.modes:
        m.modes = [x.strip() for x in args.modes.split(",")]
        for mode in m.modes:
            if mode not in runner.MODES:
                raise BenchError(f"--modes: unknown mode {mode!r} (use {', '.join(runner.MODES)})")
    if args.rates:
        try:
            m.rates = [float(x) for x in args.rates.split(",")]
        except ValueError:
            raise BenchError(f"--rates: not a list of numbers: {args.rates!r}") from None
    if args.topology:
        m.topology = args.topology
    for name in ("repetitions", "connections", "measure_s", "warmup_s"):
        val = getattr(args, name)
        if val is not None:
            setattr(m, name, val)
    out = Path(args.out)
    records = runner.run_matrix(m, out, log=lambda line: print(line, flush=True))
    from real_bench.importers import write_table

    write_table(records, out / "table.csv")
    bad = sum(not r.validity.valid for r in records)
    print(f"{len(records)} records ({bad} invalid) in {out}/records.jsonl and {out}/table.csv")
    return 0


def _cmd_kind(args: argparse.Namespace) -> int:
    from real_bench.kind.plan import load_matrix, run

    matrix = load_matrix(Path(args.matrix))
    run(matrix, dry_run=args.dry_run, out_dir=Path(args.out), stream=sys.stdout,
        context=args.context)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from real_bench.record import atomic_write_text, json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.out:
        atomic_write_text(Path(args.out), text)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from real_bench.report import write_report

    path = write_report(Path(args.results))
    print(f"report -> {path}")
    return 0


class _HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default (``off`` for a flag); an option whose default
    is None says in its own words what happens without it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.required or "default" in text:
            return text
        if action.default in (None, argparse.SUPPRESS):
            return text
        value = "off" if action.default is False else "%(default)s"
        return f"{text} (default: {value})".lstrip()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="real-bench", description=__doc__, formatter_class=_HelpWithDefaults
    )
    p.add_argument("--version", action="version", version=f"real-bench {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    imp = sub.add_parser("import", help="fortio JSON / istio-tools CSV+JSONL / own JSONL -> CSV")
    imp.add_argument("files", nargs="+")
    imp.add_argument("--out", required=True, help="CSV table, one row per run")
    imp.add_argument("--jsonl", help="also write the normalized records here (default: none)")
    imp.add_argument("--mode", choices=["none", "sidecar", "ambient", "waypoint"],
                     help="mesh mode for fortio/istio-tools files whose labels do not tell "
                     "(default: read from the labels, else unknown)")
    imp.add_argument("--placement", choices=["same-node", "cross-node", "unknown"],
                     default="unknown", help="placement of fortio/istio-tools runs")
    imp.set_defaults(func=_cmd_import)

    loc = sub.add_parser("local", help="measure real proxies in network namespaces (root)")
    loc.add_argument("--quick", action="store_true", help="every mode once, 500 rps (CI)")
    loc.add_argument("--out", default="out/real-bench-local", help="records and table here")
    loc.add_argument("--modes", help="comma list of none,sidecar,ambient,waypoint "
                     "(default: all four)")
    loc.add_argument("--rates", help="comma list of requests/s (default: 250,1000,2000,3000; "
                     "--quick: 500)")
    loc.add_argument("--topology", choices=["single-hop", "3-tier"],
                     help="single-hop (client -> server) or 3-tier (a -> b1, b2 -> c) "
                     "(default: single-hop)")
    loc.add_argument("--repetitions", type=int, help="runs per point (default: 3; --quick: 1)")
    loc.add_argument("--connections", type=int, help="wrk connections (default: 16)")
    loc.add_argument("--measure-s", dest="measure_s", type=float,
                     help="measured seconds per run (default: 10; --quick: 5)")
    loc.add_argument("--warmup-s", dest="warmup_s", type=float,
                     help="unmeasured seconds first (default: 3; --quick: 2)")
    loc.add_argument("--rerun-spoiled", dest="rerun_spoiled", action="store_true",
                     help="run again the points of --out whose background CPU was too high "
                     "(default: off)")
    loc.add_argument("--cleanup", action="store_true",
                     help="only remove namespaces left by real-bench runs that were killed")
    loc.set_defaults(func=_cmd_local)

    kind = sub.add_parser("kind", help="measure real Istio on a kind cluster")
    kind.add_argument("matrix", help="MATRIX.yaml")
    kind.add_argument("--dry-run", action="store_true", help="print commands and manifests only")
    kind.add_argument("--out", default="out/real-bench-kind", help="records and logs here")
    kind.add_argument("--context", help="measure on this existing cluster (kubectl context) "
                      "instead of creating one; it is never changed cluster-wide or deleted "
                      "(default: create a kind cluster)")
    kind.set_defaults(func=_cmd_kind)

    sch = sub.add_parser("schema", help="print the JSON Schema of one record")
    sch.add_argument("--out", help="write the schema here (default: stdout)")
    sch.set_defaults(func=_cmd_schema)

    rep = sub.add_parser("report", help="markdown table + latency-vs-rate plots from records")
    rep.add_argument("results", help="directory holding records.jsonl")
    rep.set_defaults(func=_cmd_report)
    return p


class _Parser(argparse.ArgumentParser):
    """A subcommand's parser: the defaults in its help too."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("formatter_class", _HelpWithDefaults)
        super().__init__(*args, **kwargs)


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    command_line = build_parser()
    if argv is None and "_ARGCOMPLETE" in os.environ:  # shell completion (meshsim completion)
        with contextlib.suppress(ImportError):
            import argcomplete

            argcomplete.autocomplete(command_line)
    args = command_line.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every `finally` and temp-file removal runs
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return int(args.func(args))
    except BenchError as exc:
        print(f"real-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("real-bench: interrupted; everything created was removed", file=sys.stderr)
        return 130
    except SystemExit as exc:  # the local and kind runners turn SIGTERM/SIGINT/SIGHUP into this
        if exc.code not in _SIGNAL_EXITS:
            raise
        name = _SIGNAL_EXITS[exc.code]
        print(f"real-bench: stopped by {name}; everything created was removed", file=sys.stderr)
        return int(exc.code)
    finally:
        signal.signal(signal.SIGTERM, previous)


_SIGNAL_EXITS = {128 + s: s.name for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}


if __name__ == "__main__":
    sys.exit(main())
