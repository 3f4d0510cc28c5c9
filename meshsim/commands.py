"""What each ``meshsim`` subcommand does with its parsed arguments: one short function per
command over ``meshsim.api``, and the checks at the boundary (``meshsim.cli`` parses).

One rule at the boundary: bad input (a file, a flag, a full disk) raises ``ScenarioError``,
which the command line prints as one line per problem, exit status 2; nothing is half-written
(``outdir.staged``, ``_write_out``). Work is estimated before anything is simulated and refused
over the limits (``meshsim.work``; ``--max-events``, ``--max-components``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

from meshsim import __version__, api, outdir, work
from meshsim.domain import MODES
from meshsim.errors import ScenarioError
from meshsim.progress import bar


def parse_percentiles(text: str) -> tuple[float, ...]:
    """``--percentiles 50,90,95``, checked (imported lazily: stats needs numpy and scipy)."""
    from meshsim.stats import parse_percentiles as parse

    return parse(text)


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


def run(args: argparse.Namespace) -> int:
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


def compare(args: argparse.Namespace) -> int:
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


def rollout(args: argparse.Namespace) -> int:
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


def sweep(args: argparse.Namespace) -> int:
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


def capacity(args: argparse.Namespace) -> int:
    import pandas as pd

    from meshsim.capacity import TOLERANCE, Slo
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
            rel_tol=args.tolerance or TOLERANCE,
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


def report(args: argparse.Namespace) -> int:
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


def schema(args: argparse.Namespace) -> int:
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


def check(args: argparse.Namespace) -> int:
    loaded = _load(args)
    sc = loaded.scenario
    events = work.replications(sc) * work.replication_events(sc)
    work.check(events, sc, loaded.source, "running it", _limits(args), args.engine)
    print(
        f"{args.scenario}: ok ({len(sc.services)} services, "
        f"{len(sc.cluster.node_names())} nodes, mode {sc.mesh.mode}, profile {loaded.profile.name})"
    )
    return 0


def calibrate(args: argparse.Namespace) -> int:
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


def validate(args: argparse.Namespace) -> int:
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


def profiles(args: argparse.Namespace) -> int:
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


def completion(args: argparse.Namespace) -> int:
    try:
        import argcomplete
    except ImportError:
        raise ScenarioError(
            "shell completion needs argcomplete: pip install 'meshsim[completion]'", "completion"
        ) from None
    print(argcomplete.shellcode(["meshsim", "real-bench"], shell=args.shell), end="")
    return 0
