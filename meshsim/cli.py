"""``meshsim``: a thin command line over the Python API.

One rule at the boundary: bad input (a file, a flag, a full disk) ends the command with one
line on stderr, ``meshsim: error: FILE:LINE: FIELD: message`` (one such line per problem when
a scenario has several), and exit status 2; no traceback,
and nothing half-written (``outdir.staged``). Work is estimated before anything is simulated
and refused over the limits (``meshsim.work``; ``--max-events``, ``--max-components``).
Ctrl-C and SIGTERM end a command the same way: one line, temporary output removed, exit
status 128 + the signal (130, 143).

Length: every subcommand's arguments and their boundary checks live here, one short function
per command over ``meshsim.api``; splitting the parser from the commands is the next step.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from meshsim import __version__, api, outdir, work
from meshsim.domain import MODES
from meshsim.errors import ScenarioError, one_line
from meshsim.progress import bar


def parse_percentiles(text: str) -> tuple[float, ...]:
    """``--percentiles 50,90,95``, checked (imported lazily: stats needs numpy and scipy)."""
    from meshsim.stats import parse_percentiles as parse

    return parse(text)


# --- the boundary: flags, output, limits ----------------------------------------------------


class HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default: the value, ``off`` for a flag; an option
    whose default is None says in its own words what happens without it (tests check)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or action.required or "default" in text:
            return text
        if action.default in (None, argparse.SUPPRESS):
            return text
        value = "off" if action.default is False else "%(default)s"
        return f"{text} (default: {value})".lstrip()


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its errors as one line (no usage block) and exit status 2, and every
    option's default in its help."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("formatter_class", HelpWithDefaults)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"meshsim: error: {one_line(message)}\n")


def _number(low: float, high: float = math.inf) -> Callable[[str], float]:
    """An argparse type: a finite number strictly between ``low`` and ``high``."""
    bound = f"> {low:g}" + (f" and < {high:g}" if high < math.inf else "")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and low < value < high):
            raise argparse.ArgumentTypeError(f"must be a finite number {bound}, not {text!r}")
        return value

    return parse


def _integer(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {low}, not {text!r}")
        return value

    return parse


POSITIVE = _number(0)
FRACTION = _number(0, high=1)


def _limits(args: argparse.Namespace) -> work.Limits:
    return work.Limits(
        max_events=args.max_events,
        max_components=args.max_components,
        max_tasks=getattr(args, "max_tasks", work.DEFAULT_MAX_TASKS),
    )


def _check_out(out: str | None) -> None:
    """Refuse an unusable ``--out`` before simulating, not after."""
    if out:
        outdir.probe(Path(out))


def _write_out(out: str, write: Callable[[Path], list[Path]], quiet_stdout: bool = False) -> None:
    """Write a command's files into a temporary folder, then move them to ``out``: all or none.
    With ``quiet_stdout`` (``--json``) the "wrote" lines go to stderr."""
    with outdir.staged(out) as temp:
        paths = write(temp)
    for path in paths:
        print(f"wrote {outdir.final_path(path, temp, Path(out))}", file=_say(quiet_stdout))


def _say(json_on_stdout: bool):  # a text stream
    """Where human-readable lines go: stdout, or stderr when stdout carries ``--json``."""
    return sys.stderr if json_on_stdout else sys.stdout


def _print_json(doc: object) -> None:
    """The command's summary for scripts: one JSON document, nothing else on stdout."""
    sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")


def _export(path: str | None, text: Callable[[], str], json_on_stdout: bool) -> None:
    """Write one export file (fortio JSON, .hgrm) atomically."""
    if not path:
        return
    from meshsim.output import write_text

    out = Path(path)
    if out.exists() and not out.is_file():
        raise ScenarioError(f"{out} exists and is not a regular file", "--fortio-json/--hgrm")
    write_text(out, text())
    print(f"wrote {out}", file=_say(json_on_stdout))


def _load(args: argparse.Namespace):
    extra = list(args.set or [])
    if getattr(args, "seed", None) is not None:
        extra.append(f"sim.seed={args.seed}")
    if getattr(args, "replications", None) is not None:
        extra.append(f"sim.replications={args.replications}")
    return api.load(args.scenario, extra)


def _symmetry_flag(text: str) -> str | int:
    """``--symmetry``: off, auto, or the number of copies to simulate."""
    if text in ("off", "auto"):
        return text
    try:
        return _integer(1)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be off, auto or a number of copies >= 1, not {text!r}"
        ) from None


def _check_work(args: argparse.Namespace, loaded, modes: tuple[str, ...], what: str) -> None:
    """Refuse over the work limits what will be simulated: the reduced scenario under
    ``--symmetry``; a refused full run says which reduction would fit."""
    from meshsim import symmetry

    reduction, why_not = symmetry.decide(loaded, args.symmetry, args.engine, modes)
    if why_not:
        print(f"symmetry: every copy simulated: {why_not}", file=sys.stderr)
    sc = reduction.reduced.scenario if reduction else loaded.scenario
    events = len(modes) * work.replications(sc) * work.replication_events(sc)
    limits = _limits(args)
    try:
        work.check(events, sc, loaded.source, what, limits, args.engine)
    except ScenarioError as exc:
        over = max(events / limits.max_events, work.components(sc) / limits.max_components)
        hint = symmetry.advice(loaded, over) if reduction is None and args.engine == "des" else ""
        if not hint:
            raise
        raise ScenarioError(f"{exc.message}; {hint}", exc.file, exc.line, exc.field) from None


def _say_symmetry(record: dict | None) -> None:
    """The symmetry statement above the tables (a fallback's note went to stderr)."""
    if record is not None and "statement" in record:
        print(record["statement"] + "\n")


def cmd_run(args: argparse.Namespace) -> int:
    from meshsim.artifacts import run_tables, write_run

    _check_out(args.out)
    for option, path in (("--fortio-json", args.fortio_json), ("--hgrm", args.hgrm)):
        if path and Path(path).exists() and not Path(path).is_file():
            raise ScenarioError(f"{path} exists and is not a regular file", option)
    loaded = _load(args)
    _check_work(args, loaded, (loaded.scenario.mesh.mode,), "the run")
    with bar("run", args.quiet) as progress:
        result = api.simulate(
            loaded,
            progress=progress,
            percentiles=parse_percentiles(args.percentiles),
            engine=args.engine,
            symmetry=args.symmetry,
        )
    if args.json:
        _print_json(result.summary())
    else:
        _say_symmetry(result.symmetry)
        print(run_tables(result))
    if args.fortio_json or args.hgrm:
        from meshsim import export

        if result.pooled_latency().count == 0:
            raise ScenarioError(
                "the run completed no measured request: nothing to export", "--fortio-json/--hgrm"
            )
        _export(
            args.fortio_json,
            lambda: json.dumps(export.to_fortio(result), indent=1) + "\n",
            args.json,
        )
        _export(args.hgrm, lambda: export.to_hgrm(result), args.json)
    if args.out:
        _write_out(args.out, lambda temp: write_run(result, temp), args.json)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from meshsim.artifacts import compare_table, hop_breakdown, kind_resources, write_comparison

    modes = _modes(args.modes)
    _check_out(args.out)
    loaded = _load(args)
    _check_work(args, loaded, tuple(modes), "the comparison")
    with bar("compare", args.quiet) as progress:
        comp = api.compare(
            loaded,
            modes,
            progress=progress,
            percentiles=parse_percentiles(args.percentiles),
            engine=args.engine,
            symmetry=args.symmetry,
        )
    if args.json:
        from meshsim.artifacts import comparison_summary

        _print_json(comparison_summary(comp))
    else:
        _say_symmetry(next(iter(comp.results.values())).symmetry)
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(compare_table(comp).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            print("\nper-hop breakdown, ms per request (why each mode adds what it adds):")
            print(hop_breakdown(comp).to_string(float_format=lambda v: f"{v:.3f}"))
            print("\nresources per component kind (vcpu = cores busy, memory in MiB):")
            print(kind_resources(comp).to_string(float_format=lambda v: f"{v:.3f}"))
    if args.out:
        _write_out(args.out, lambda temp: write_comparison(comp, temp), args.json)
    return 0


def cmd_rollout(args: argparse.Namespace) -> int:
    import pandas as pd

    modes = _modes(args.modes)
    _check_out(args.out)
    loaded = _load(args)
    sc = loaded.scenario
    events = len(modes) * work.replications(sc) * work.replication_events(sc)
    work.check(events, sc, loaded.source, "the rollout", _limits(args))
    with bar("rollout", args.quiet) as progress:
        done = api.rollout(loaded, args.component, modes, progress=progress)
    if args.json:
        _print_json(done.summary())
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(done.table().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        _write_out(args.out, done.write, args.json)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    extra = list(args.set or [])
    if args.seed is not None:
        extra.append(f"sim.seed={args.seed}")
    _check_out(args.out)
    table = api.sweep(
        args.scenario,
        args.out,
        args.grid or [],
        extra,
        args.replications,
        args.executor,
        args.scheduler,
        args.workers,
        not args.quiet,
        parse_percentiles(args.percentiles),
        _limits(args),
        args.engine,
    )
    points = table["point"].nunique() if len(table) else 0
    reps = table["replication"].nunique() if len(table) else 0
    files = [str(Path(args.out) / name) for name in ("results.parquet", "results.csv")]
    if args.json:
        _print_json({"rows": len(table), "points": points, "replications": reps, "files": files})
        return 0
    print(f"{len(table)} rows ({points} points x {reps} replications)")
    print(f"wrote {files[0]} and {files[1]}")
    return 0


def _modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ScenarioError(
            f"unknown mode {unknown[0] if unknown else ''!r}; choose from " + ", ".join(MODES),
            "--modes",
        )
    return modes


def cmd_capacity(args: argparse.Namespace) -> int:
    import pandas as pd

    from meshsim.capacity import Slo
    from meshsim.output import PROVENANCE_FILE, write_csv

    modes = _modes(args.modes)
    _check_out(args.out)
    loaded = _load(args)
    slo = Slo.parse(args.slo or loaded.scenario.cost.slo)
    reps = args.replications or 1
    events = work.capacity_events(loaded.scenario, len(modes), reps, args.requests_per_point)
    if args.engine == "hybrid":
        events *= work.HYBRID_SHARE
    work.check(
        events, loaded.scenario, loaded.source, "the capacity search", _limits(args), args.engine
    )
    with bar("capacity", args.quiet) as progress:
        table, _ = api.capacity(
            loaded,
            slo,
            modes,
            target_rps=args.target_rps,
            progress=progress,
            seeds=args.replications or 1,
            requests_per_point=args.requests_per_point,
            rel_tol=args.tolerance,
            engine=args.engine,
            workers=args.workers,
        )
    prov = {**loaded.provenance(), "meshsim_version": __version__, "slo": str(slo)}
    if args.json:
        rows = json.loads(table.to_json(orient="records"))  # NaN -> null
        _print_json({"meshsim_version": __version__, "provenance": prov, "capacity": rows})
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        _write_out(
            args.out,
            lambda temp: [write_csv(temp / "capacity.csv", table, prov), temp / PROVENANCE_FILE],
            args.json,
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    modes = _modes(args.modes)
    _check_out(args.out)
    loaded = _load(args)
    for name in args.also_profile or ():
        try:
            loaded.replace(mesh={"profile": name})  # as the report sets it
        except ScenarioError as exc:
            raise ScenarioError(exc.message, "--also-profile", None, name) from None
    sc = loaded.scenario
    profiles_run = 1 + len(args.also_profile or ())
    events = profiles_run * len(modes) * work.replications(sc) * work.replication_events(sc)
    if not args.no_capacity:
        events += work.capacity_events(sc, len(modes), args.capacity_seeds, args.requests_per_point)
    if args.engine == "analytic":
        events = 0.0
    work.check(events, sc, loaded.source, "the report", _limits(args), args.engine)
    with bar("report", args.quiet) as progress:
        _write_out(
            args.out,
            lambda temp: api.report(
                loaded,
                temp,
                modes,
                args.slo,
                progress,
                other_profiles=args.also_profile or (),
                capacity=not args.no_capacity,
                requests_per_point=args.requests_per_point,
                rel_tol=args.tolerance,
                capacity_seeds=args.capacity_seeds,
                engine=args.engine,
            ),
        )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from meshsim.loader import json_schema

    schema = json_schema()
    text = json.dumps(schema, indent=2) + "\n"
    if args.out:
        from meshsim.output import write_text

        out = Path(args.out)
        if out.exists() and not out.is_file():
            raise ScenarioError(f"{out} exists and is not a regular file", "--out")
        try:
            write_text(out, text)
        except OSError as exc:
            raise ScenarioError(f"cannot write {out}: {exc.strerror}", "--out") from None
    else:
        sys.stdout.write(text)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    loaded = _load(args)
    sc = loaded.scenario
    events = work.replications(sc) * work.replication_events(sc)
    work.check(events, sc, loaded.source, "running it", _limits(args), args.engine)
    print(
        f"{args.scenario}: ok ({len(sc.services)} services, "
        f"{len(sc.cluster.node_names())} nodes, mode {sc.mesh.mode}, profile {loaded.profile.name})"
    )
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit a profile on --fit-on points, then validate it on the --holdout points."""
    metrics = _fit_flags(args)
    with bar("calibrate", args.quiet) as progress:
        done = api.calibrate(
            args.scenario,
            args.measurements,
            args.out,
            overrides=args.set or (),
            fit_on=args.fit_on,
            holdout=args.holdout,
            free=args.free,
            metrics=metrics,
            duration_s=args.duration,
            max_evaluations=args.max_evaluations,
            name=args.name,
            report_dir=args.report,
            allow_single_load=args.allow_single_load,
            progress=progress,
        )
    cal = done.calibrator
    print(cal.sensitivity_.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    for warning in cal.warnings_:
        print(f"warning: {warning}")
    print(f"wrote {done.profile}")
    if done.dropped is not None:
        _say_dropped(done.dropped)
    for path in done.paths:
        print(f"wrote {path}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Simulate every measured point with a profile; errors against measurements."""
    _fit_flags(args)
    with bar("validate", args.quiet) as progress:
        done = api.validate(
            args.profile,
            args.measurements,
            args.out,
            scenario=args.scenario,
            select=args.select,
            fit_on=args.fit_on,
            duration_s=args.duration,
            progress=progress,
        )
    for note in done.notes:
        print(f"meshsim: note: {note}", file=sys.stderr)
    _say_dropped(done.dropped)
    for path in done.paths:
        print(f"wrote {path}", file=_say(args.json))
    summary = done.summary
    if args.json:
        _print_json(summary)
        return 0
    print("MAPE % (meshsim):", summary["mape_pct"], " additive:", summary["additive_mape_pct"])
    return 0


MAX_POINT_DURATION_S = 3600.0  # calibrate/validate --duration: an hour per measured point
MAX_EVALUATIONS = 1000  # calibrate --max-evaluations (each simulates every point)


def _fit_flags(args: argparse.Namespace) -> tuple[str, ...]:
    """calibrate/validate numbers and metric names, checked before any work; the metrics."""
    import math

    from meshsim.measurements import METRICS

    if not (math.isfinite(args.duration) and 0 < args.duration <= MAX_POINT_DURATION_S):
        raise ScenarioError(
            f"simulated seconds per point, in (0, {MAX_POINT_DURATION_S}], not {args.duration}",
            "--duration",
        )
    if not 1 <= getattr(args, "max_evaluations", 1) <= MAX_EVALUATIONS:
        raise ScenarioError(f"must be from 1 to {MAX_EVALUATIONS}", "--max-evaluations")
    metrics = tuple(m.strip() for m in getattr(args, "metrics", "p50").split(",") if m.strip())
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        shown = repr(unknown[0][:40]) if unknown else "none"
        choose = ", ".join(METRICS)
        raise ScenarioError(f"unknown metric {shown}; choose from {choose}", "--metrics")
    return metrics


def _say_dropped(dropped) -> None:  # a pandas DataFrame (pandas imported lazily)
    """Every point left out, and why, on stderr."""
    for row in dropped.itertuples():
        print(f"meshsim: dropped {row.point}: {row.reason}", file=sys.stderr)


def cmd_profiles(args: argparse.Namespace) -> int:
    import textwrap

    from meshsim import profiles

    rows = profiles.table(args.paths)
    width = max(len("NAME"), *(len(name) for name, _, _ in rows))
    indent = " " * (width + 2)
    for name, description, source in [("NAME", "DESCRIPTION", "SOURCE"), *rows]:
        print(f"{name:<{width}}  {source}")
        for line in textwrap.wrap(description, 96 - len(indent)):
            print(indent + line)
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    try:
        import argcomplete
    except ImportError:
        raise ScenarioError(
            "shell completion needs argcomplete: pip install 'meshsim[completion]'", "completion"
        ) from None
    print(argcomplete.shellcode(["meshsim", "real-bench"], shell=args.shell), end="")
    return 0


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="meshsim", description=__doc__.split("\n\n")[0])
    p.add_argument("--version", action="version", version=f"meshsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def scenario_command(
        name: str, help_text: str, replications: str = "the scenario's sim.replications"
    ) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help_text)
        s.add_argument("scenario", help="scenario YAML file")
        s.add_argument(
            "--set",
            action="append",
            metavar="PATH=VALUE",
            help="override a field, e.g. --set mesh.mode=ambient (repeatable; default: none)",
        )
        s.add_argument(
            "--seed", type=_integer(0), help="random seed (default: the scenario's sim.seed)"
        )
        s.add_argument(
            "--replications",
            type=_integer(1),
            help=f"independent runs (default: {replications})",
        )
        s.add_argument("--quiet", action="store_true", help="no progress lines")
        s.add_argument(
            "--max-events",
            type=POSITIVE,
            default=work.DEFAULT_MAX_EVENTS,
            help="refuse a command estimated to simulate more events (default %(default).3g)",
        )
        s.add_argument(
            "--max-components",
            type=POSITIVE,
            default=work.DEFAULT_MAX_COMPONENTS,
            help="refuse a scenario with more simulated components (default %(default).3g)",
        )
        return s

    run = scenario_command("run", "simulate a scenario in its own mesh mode")
    run.add_argument(
        "--out",
        help="write summary.json, hops.csv, resources.csv here (default: print the summary only)",
    )
    run.add_argument(
        "--fortio-json", metavar="FILE", help="also write the latency as fortio JSON (default: no)"
    )
    run.add_argument(
        "--hgrm", metavar="FILE", help="also write HdrHistogram percentile text (default: no)"
    )
    run.set_defaults(func=cmd_run)
    cmp = scenario_command("compare", "simulate a scenario in several modes, same random numbers")
    cmp.add_argument("--modes", default=",".join(MODES), help="mesh modes to compare")
    cmp.add_argument(
        "--out",
        help="write compare.csv, hops.csv, resources.csv, report.md here (default: print only)",
    )
    cmp.set_defaults(func=cmd_compare)
    roll = scenario_command("rollout", "the same rolling upgrade in each mode, over time")
    roll.add_argument("--component", required=True, choices=("envoy", "ztunnel"))
    roll.add_argument(
        "--modes", default="sidecar,ambient,waypoint", help="mesh modes to roll out in"
    )
    roll.add_argument(
        "--out",
        help="write rollout.csv, timeseries.csv, rollout.png, report.md (default: print only)",
    )
    roll.set_defaults(func=cmd_rollout)
    cap = scenario_command(
        "capacity", "highest entry rate within a latency SLO, per mode", "1 per load point"
    )
    cap.add_argument("--slo", help="e.g. p99<=10ms, mean<500us (default: cost.slo)")
    cap.add_argument("--modes", default=",".join(MODES), help="mesh modes to search")
    cap.add_argument(
        "--target-rps",
        type=POSITIVE,
        help="rate to size nodes and cost for (default: cost.target_rate_rps, else the "
        "workload's rate)",
    )
    cap.add_argument("--requests-per-point", type=_integer(1), default=2000, help="run length")
    cap.add_argument("--tolerance", type=FRACTION, default=0.02, help="relative, on the rate")
    cap.add_argument(
        "--workers",
        type=_integer(1),
        default=1,
        help="processes for the modes' searches, same answers (pays off on idle cores only)",
    )
    cap.epilog = (
        "--replications N runs the search N times (seeds seed..seed+N-1, one replication per "
        "point) and reports the answers' mean, 95%% interval and seed-to-seed spread"
    )
    cap.add_argument("--out", help="write capacity.csv here (default: print only)")
    cap.set_defaults(func=cmd_capacity)
    rep = scenario_command(
        "report", "an HTML and Markdown report: latency, cost, capacity", "the scenario's"
    )
    rep.add_argument("--out", required=True, help="write index.html, report.md, PNGs here")
    rep.add_argument("--slo", help="latency objective (default: cost.slo)")
    rep.add_argument("--modes", default=",".join(MODES), help="mesh modes to report on")
    rep.add_argument(
        "--also-profile",
        action="append",
        metavar="PROFILE",
        help="compare under it too (repeatable; default: none)",
    )
    rep.add_argument("--no-capacity", action="store_true", help="skip the capacity search")
    rep.add_argument(
        "--requests-per-point", type=_integer(1), default=2000, help="capacity run length"
    )
    rep.add_argument("--tolerance", type=FRACTION, default=0.03, help="capacity, relative")
    rep.add_argument(
        "--capacity-seeds",
        type=_integer(1),
        default=3,
        help="capacity searches per mode, seeds seed.. (their spread is the answer's interval; "
        "default %(default)s)",
    )
    rep.set_defaults(func=cmd_report)
    check = scenario_command("check", "validate a scenario and exit")
    check.set_defaults(func=cmd_check)
    swp = scenario_command(
        "sweep",
        "simulate the cross product of grids x replications",
        "the sweep file's, else the scenario's sim.replications",
    )
    swp.add_argument(
        "--grid",
        action="append",
        metavar="PATH=V1,V2,...",
        help="a field and its values; grids are crossed (repeatable; default: none). SCENARIO "
        "may also be a sweep YAML (scenario, grid, set, replications)",
    )
    swp.add_argument("--out", required=True, help="results.parquet, results.csv, points/ here")
    swp.add_argument(
        "--executor", choices=["local", "dask"], default="local", help="where points run"
    )
    swp.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    swp.add_argument("--workers", type=_integer(1), help="processes (default: every core)")
    swp.add_argument(
        "--max-tasks",
        type=POSITIVE,
        default=work.DEFAULT_MAX_TASKS,
        help="refuse a sweep of more points x replications (default %(default).3g)",
    )
    swp.set_defaults(func=cmd_sweep)
    for command in (run, cmp, swp, rep, check):
        command.add_argument(
            "--engine",
            choices=["des", "analytic"],
            default="des",
            help="des: the simulation; analytic: the queueing-network solution, in seconds "
            "at any scale (default %(default)s)",
        )
    cap.add_argument(
        "--engine",
        choices=["hybrid", "des", "analytic"],
        default="hybrid",
        help="hybrid: bracket analytically, confirm with the DES near the answer "
        "(default %(default)s)",
    )
    for command in (run, cmp):
        command.add_argument(
            "--symmetry",
            type=_symmetry_flag,
            default="off",
            metavar="auto|off|COPIES",
            help="a fleet of identical copies simulated as fewer copies on their share of the "
            "nodes and load, results scaled back (see the README's fleet section); auto: as few "
            "as divide evenly, else every copy with a note; COPIES: that many, else an error "
            "(default %(default)s)",
        )
    for command in (run, cmp, swp):
        command.add_argument(
            "--percentiles",
            default="50,90,95,99,99.9",  # meshsim.stats.DEFAULT_PERCENTILES
            help="latency percentiles to report (default %(default)s)",
        )
    cal = sub.add_parser("calibrate", help="fit a parameter profile to measurements")
    cal.add_argument("measurements", nargs="+", help="fortio JSON, istio/tools, real_bench files")
    cal.add_argument("--scenario", required=True, help="template scenario for the measured setup")
    cal.add_argument("--out", required=True, help="the fitted profile (YAML)")
    cal.add_argument("--name", help="profile name (default: the file's stem)")
    cal.add_argument(
        "--fit-on",
        help="points to fit, a query, e.g. 'connections == 16' (default: all points)",
    )
    cal.add_argument("--holdout", help="points to validate on afterwards, a query (default: none)")
    cal.add_argument("--report", help="validation output folder (default: beside --out)")
    cal.add_argument(
        "--free",
        action="append",
        metavar="NAME=PATH[+PATH]:LOW:HIGH",
        help="a parameter to fit and its bounds (repeatable; default: chosen from the metrics)",
    )
    cal.add_argument(
        "--metrics",
        default="p50,p90,cpu_sidecar_client,cpu_sidecar_server,cpu_ztunnel,cpu_waypoint",
        help="fitted metrics (comma-separated)",
    )
    cal.add_argument("--duration", type=float, default=4.0, help="simulated seconds per point")
    cal.add_argument("--max-evaluations", type=int, default=80, help="simulations the fit may run")
    cal.add_argument(
        "--allow-single-load",
        action="store_true",
        help="fit load-dependent parameters (wake-up, work after the response, CPU variability,"
        " workers) on data of one load level; by default that is refused",
    )
    cal.add_argument(
        "--set",
        action="append",
        metavar="PATH=VALUE",
        help="override a field of the template (repeatable; default: none)",
    )
    cal.add_argument("--quiet", action="store_true", help="no progress lines")
    cal.set_defaults(func=cmd_calibrate)
    val = sub.add_parser("validate", help="a profile's error on measured points, with baseline")
    val.add_argument("profile", help="a profile YAML (e.g. from meshsim calibrate)")
    val.add_argument("measurements", nargs="+")
    val.add_argument("--out", required=True, help="validation.csv, summary.json, plots here")
    val.add_argument("--scenario", help="template (default: the one the profile records)")
    val.add_argument("--select", help="which points, a query (default: all valid)")
    val.add_argument(
        "--fit-on",
        help="mark these points as fitted, a query (default: the points the profile names; its "
        "recorded selector is never applied)",
    )
    val.add_argument("--duration", type=float, default=4.0, help="simulated seconds per point")
    val.add_argument("--quiet", action="store_true", help="no progress lines")
    val.set_defaults(func=cmd_validate)
    for command in (run, cmp, roll, cap, swp, val):
        command.add_argument(
            "--json",
            action="store_true",
            help="print the summary as JSON on stdout, nothing else (default: tables)",
        )
    schema = sub.add_parser("schema", help="print the scenario JSON Schema (for editors)")
    schema.add_argument("--out", help="write the schema here (default: stdout)")
    schema.set_defaults(func=cmd_schema)
    prof = sub.add_parser(
        "profiles", help="the built-in parameter profiles: name, source file, description"
    )
    prof.add_argument("paths", nargs="*", metavar="PROFILE.yaml", help="list these too")
    prof.set_defaults(func=cmd_profiles)
    comp = sub.add_parser(
        "completion",
        help="print a shell completion script for meshsim and real-bench, e.g. "
        'eval "$(meshsim completion bash)" (needs meshsim[completion])',
    )
    comp.add_argument("shell", choices=["bash", "zsh", "fish"])
    comp.set_defaults(func=cmd_completion)
    from meshsim.importers.command import add_parser as add_import_parser

    add_import_parser(sub)
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every clean-up path runs for both."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def complete(command_line: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request and exit, when it is one (``argcomplete``;
    imported only then, so start-up stays light)."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(command_line)


def main(argv: list[str] | None = None) -> int:
    command_line = parser()
    if argv is None:
        complete(command_line)
    try:
        args = command_line.parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version, or a one-line usage error
        return exc.code if isinstance(exc.code, int) else 2
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return args.func(args)
    except ScenarioError as exc:
        for line in exc.lines():
            _fail(line, 2)
        return 2
    except Terminated:
        return _fail("terminated; nothing partial was written", 128 + signal.SIGTERM)
    except KeyboardInterrupt:
        return _fail("interrupted; nothing partial was written", 128 + signal.SIGINT)
    except OSError as exc:  # a file we could not read or write, outside the checks above
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}", 2)
    except RecursionError:
        return _fail("input nested too deeply to process", 2)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _fail(message: str, status: int) -> int:
    print(f"meshsim: error: {one_line(message)}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
