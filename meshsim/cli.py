"""``meshsim``: a thin command line over the Python API.

One rule at the boundary: bad input (a file, a flag, a full disk) ends the command with one
line on stderr, ``meshsim: error: FILE:LINE: FIELD: message`` (one such line per problem when
a scenario has several), and exit status 2; no traceback,
and nothing half-written (``outdir.staged``). Work is estimated before anything is simulated
and refused over the limits (``meshsim.work``; ``--max-events``, ``--max-components``).
Ctrl-C and SIGTERM end a command the same way: one line, temporary output removed, exit
status 128 + the signal (130, 143).

The parser and its argument types live here; what each command does with its arguments, and
the checks at the boundary, in ``meshsim.commands``.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

from meshsim import __version__, commands, work
from meshsim.domain import MODES
from meshsim.errors import ScenarioError, one_line


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
    run.set_defaults(func=commands.run)
    cmp = scenario_command("compare", "simulate a scenario in several modes, same random numbers")
    cmp.add_argument("--modes", default=",".join(MODES), help="mesh modes to compare")
    cmp.add_argument(
        "--out",
        help="write compare.csv, hops.csv, resources.csv, report.md here (default: print only)",
    )
    cmp.set_defaults(func=commands.compare)
    roll = scenario_command("rollout", "the same rolling upgrade in each mode, over time")
    roll.add_argument("--component", required=True, choices=("envoy", "ztunnel"))
    roll.add_argument(
        "--modes", default="sidecar,ambient,waypoint", help="mesh modes to roll out in"
    )
    roll.add_argument(
        "--out",
        help="write rollout.csv, timeseries.csv, rollout.png, report.md (default: print only)",
    )
    roll.set_defaults(func=commands.rollout)
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
    cap.add_argument(
        "--tolerance",
        type=FRACTION,
        help="relative, on the rate (default 0.05, about the answer's own precision: "
        "meshsim.capacity.TOLERANCE)",
    )
    cap.add_argument(
        "--workers",
        type=_integer(1),
        help="worker processes for the searches' DES runs, same answers (default: every "
        "core, at most one a mode and seed)",
    )
    cap.epilog = (
        "--replications N runs the search N times (seeds seed..seed+N-1, one replication per "
        "point) and reports the answers' mean, 95%% interval and seed-to-seed spread"
    )
    cap.add_argument("--out", help="write capacity.csv here (default: print only)")
    cap.set_defaults(func=commands.capacity)
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
    rep.set_defaults(func=commands.report)
    check = scenario_command("check", "validate a scenario and exit")
    check.set_defaults(func=commands.check)
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
    swp.set_defaults(func=commands.sweep)
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
    cal.set_defaults(func=commands.calibrate)
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
    val.set_defaults(func=commands.validate)
    for command in (run, cmp, roll, cap, swp, val):
        command.add_argument(
            "--json",
            action="store_true",
            help="print the summary as JSON on stdout, nothing else (default: tables)",
        )
    schema = sub.add_parser("schema", help="print the scenario JSON Schema (for editors)")
    schema.add_argument("--out", help="write the schema here (default: stdout)")
    schema.set_defaults(func=commands.schema)
    prof = sub.add_parser(
        "profiles", help="the built-in parameter profiles: name, source file, description"
    )
    prof.add_argument("paths", nargs="*", metavar="PROFILE.yaml", help="list these too")
    prof.set_defaults(func=commands.profiles)
    comp = sub.add_parser(
        "completion",
        help="print a shell completion script for meshsim and real-bench, e.g. "
        'eval "$(meshsim completion bash)" (needs meshsim[completion])',
    )
    comp.add_argument("shell", choices=["bash", "zsh", "fish"])
    comp.set_defaults(func=commands.completion)
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
