"""Parameter sweeps: the cross product of grids x replications, as one tidy table.

Design, briefly:

- A *task* is one (point, replication). Every point's scenario is built and validated in the
  driver (``LoadedScenario.with_changes``) before anything runs, so bad grid values fail at
  once, and a worker needs nothing but the pickled scenario: no shared filesystem, no profile
  files. The worker calls ``run_replication``, the same function ``meshsim run`` uses, so the
  table does not depend on the executor (local processes or a Dask cluster).
- Each finished task is written by the driver as its own small JSON file under
  ``DIR/points/``, to a temporary name renamed into place. Its name is a digest of everything
  that determines the result (scenario, overrides, point, replication, version), so a restarted
  sweep skips exactly the tasks already on disk: killed at any moment, it loses and duplicates
  nothing. ``results.parquet`` and ``results.csv`` are assembled from those files at the end.

- One sweep at a time per folder: the driver holds ``outdir.locked(out)`` while it runs, and a
  folder that holds another sweep's table (another scenario, grid or overrides) is refused, never
  overwritten. The final tables are written through ``outdir.staged``: all of them or none.
- Workers die with the driver, even when it is killed with ``kill -9``: each sets
  ``PR_SET_PDEATHSIG`` (Linux) and watches its parent. On Ctrl-C or SIGTERM the driver ends them.
- The work is bounded before anything runs (``meshsim.work``): tasks are counted before any
  point is built, then the events of every task are estimated.

A sweep file is YAML naming a scenario (relative to the file), the grid, and optionally fixed
overrides and replications; ``--grid`` options add to its grid. Its errors name the file and
line::

    scenario: ../scenarios/quickstart.yaml
    set: [workload.duration_s=2]
    grid:
      mesh.mode: [none, sidecar, ambient, waypoint]
      workload.generator.rate_rps: [100, 300, 1000]
    replications: 2

Length: the grid, the sweep file, the task key, the local and Dask executors, the lock and
the resumable table belong to one workflow; each part is a short function.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import io
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from meshsim import __version__, outdir, safe_yaml, work
from meshsim.errors import ScenarioError
from meshsim.loader import LoadedScenario, every_problem, line_map, load_scenario
from meshsim.output import record_provenance, write_bytes, write_csv, write_json
from meshsim.progress import counter
from meshsim.results import Result
from meshsim.simulate import run_replication
from meshsim.stats import DEFAULT_PERCENTILES

Executor = Literal["local", "dask"]
POINTS_DIR = "points"
STALE_TEMP_S = 600  # an interrupted write's temporary file is removed after this long

UNITS = {
    "point": "index of the grid point (row-major over the grids, in the order given)",
    "replication": "replication index: its random streams depend only on (seed, index, name)",
    "latency_*_ms": "milliseconds, end to end, per root request, in the measurement window",
    "throughput_rps": "completed requests per second in the measurement window",
    "requested_rps": "rate the workload asks for (open loop rate_rps, or fortio qps)",
    "measured_requests": "requests completed in the measurement window",
    "vcpu_*": "mean cores busy over the measurement window, summed over components of a kind",
    "memory_mib_*": "MiB (model: base + per connection + per visible service), summed by kind",
    "bottleneck_utilisation": "fraction of capacity busy in the busiest component",
    "wall_time_s": "wall-clock seconds the task took on its worker (not reproducible)",
}


@dataclass(frozen=True)
class Grid:
    """One swept field: its dotted path, the values (as YAML text) it takes, and where it was
    given (``--grid``, or a sweep file and line) so that a bad value is blamed there."""

    path: str
    values: tuple[str, ...]
    source: str = "--grid"
    line: int | None = None

    def error(self, message: str) -> ScenarioError:
        field = self.path if self.source == "--grid" else f"grid.{self.path}"
        return ScenarioError(message, self.source, self.line, field)

    def assignments(self) -> list[str]:
        return [f"{self.path}={v}" for v in self.values]


@dataclass(frozen=True)
class Task:
    """One replication of one point, self-contained so that any worker can run it."""

    key: str
    point: int
    replication: int
    params: dict[str, Any]
    loaded: LoadedScenario
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    engine: str = "des"


@dataclass
class Sweep:
    """A base scenario, the grids to cross, and how many replications per point."""

    base: LoadedScenario
    grids: list[Grid]
    replications: int = 1
    source: str = ""
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES  # latency columns of the table

    def size(self) -> int:
        """Tasks (points x replications), counted without building them."""
        return math.prod(len(g.values) for g in self.grids) * self.replications

    def points(self) -> list[tuple[str, ...]]:
        """Every combination of grid values, as ``path=value`` assignments (row-major)."""
        return list(itertools.product(*(g.assignments() for g in self.grids)))

    def tasks(self) -> list[Task]:
        """Build and validate every point's scenario; raises ScenarioError on bad values."""
        self.check_values()
        out = []
        for point, assignments in enumerate(self.points()):
            loaded = self._point(assignments)
            params = {
                a.partition("=")[0]: safe_yaml.load_value(a.partition("=")[2], "--grid", a)
                for a in assignments
            }
            for rep in range(self.replications):
                key = _task_key(loaded, assignments, rep, self.percentiles)
                out.append(Task(key, point, rep, params, loaded, self.percentiles))
        return out

    def check_values(self) -> None:
        """Each grid value on its own, so that a bad one is blamed on the grid that gave it."""
        for g in self.grids:
            for assignment in g.assignments():
                try:
                    self.base.with_changes(assignment)
                except ScenarioError as exc:
                    value = assignment.partition("=")[2]
                    raise g.error(f"value {value!r}: {exc.field}: {exc.message}") from None

    def _point(self, assignments: Sequence[str]) -> LoadedScenario:
        try:
            return self.base.with_changes(*assignments)
        except ScenarioError as exc:  # values fine alone, wrong together
            grid = self.grids[0]
            point = " ".join(assignments)
            raise grid.error(f"point {point}: {exc.field}: {exc.message}") from None


def _task_key(
    loaded: LoadedScenario,
    assignments: Sequence[str],
    replication: int,
    percentiles: tuple[float, ...],
) -> str:
    """A digest of everything that determines a task's result: its file name on disk."""
    ident = {
        "scenario_sha256": loaded.scenario_sha256,
        "profile_sha256": loaded.profile_sha256,
        "scenario": loaded.scenario.model_dump(mode="json"),
        "point": list(assignments),
        "replication": replication,
        "meshsim_version": __version__,
    }
    if percentiles != DEFAULT_PERCENTILES:  # other latency columns
        ident["percentiles"] = list(percentiles)
    text = json.dumps(ident, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


# --- input ---------------------------------------------------------------------------------


def split_values(text: str) -> list[str]:
    """Split ``a,b,[1,2],{x: 1}`` on the commas outside brackets, braces and quotes."""
    values, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    values.append("".join(current).strip())
    return values


def parse_grid(text: str, source: str = "--grid", line: int | None = None) -> Grid:
    """``PATH=V1,V2,...`` -> Grid; raises ScenarioError (one line) when malformed."""
    path, sep, rest = text.partition("=")
    path = path.strip()
    blame = Grid(path or text, (), source, line)
    if not sep or not path or not rest.strip():
        raise blame.error("expected PATH=V1,V2,...")
    if any(not p for p in path.split(".")) or any(c.isspace() for c in path):
        raise blame.error("bad field path")
    values = split_values(rest)
    if any(not v for v in values):
        raise blame.error("empty value")
    for v in values:
        try:
            safe_yaml.load_value(v, source, path)
        except ScenarioError:
            raise blame.error(f"value {v!r} is not valid YAML") from None
    if len(set(values)) != len(values):
        raise blame.error("a value is repeated")
    return Grid(path, tuple(values), source, line)


def _check_grids(grids: list[Grid]) -> None:
    if not grids:
        raise ScenarioError("give at least one --grid PATH=V1,V2,... (or a sweep file grid)")
    seen: set[str] = set()
    for g in grids:
        if g.path in seen:
            raise g.error("the same field is swept twice")
        seen.add(g.path)


class SweepFile(BaseModel):
    """What a sweep YAML may hold."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    scenario: str = Field(description="the base scenario, relative to the sweep file")
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(min_length=1)
    set: list[str] = Field(default_factory=list, description="fixed PATH=VALUE overrides")
    replications: int = Field(1, ge=1)
    description: str = ""


def read_sweep_file(path: Path) -> tuple[SweepFile, dict] | None:
    """A sweep YAML and the line of each of its fields, or None when the file is a plain
    scenario (a mapping without ``grid``)."""
    file = str(path)
    raw, node = safe_yaml.load(safe_yaml.read_text(path), file)
    if not isinstance(raw, dict) or "grid" not in raw or node is None:
        return None
    lines = line_map(node, file)  # also rejects duplicate keys
    try:
        return SweepFile.model_validate(raw), lines
    except ValidationError as exc:
        raise every_problem(exc, file, lines) from None


def build_sweep(
    target: str | Path,
    grid_args: Sequence[str] = (),
    overrides: Sequence[str] = (),
    replications: int | None = None,
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES,
) -> Sweep:
    """A Sweep from a scenario (or a sweep YAML) plus command-line grids and overrides."""
    target = Path(target)
    read = read_sweep_file(target) if target.is_file() else None
    grids: list[Grid] = []
    if read is None:
        base = load_scenario(target, overrides)
        reps = 1
    else:
        spec, lines = read
        file = str(target)
        for path, values in spec.grid.items():
            text = ",".join(json.dumps(v) if not isinstance(v, str) else v for v in values)
            grids.append(parse_grid(f"{path}={text}", file, lines.get(("grid", path))))
        scenario_path = (target.parent / spec.scenario).resolve()
        if not scenario_path.is_file():
            line = lines.get(("scenario",))
            raise ScenarioError(f"no scenario file {spec.scenario!r}", file, line, "scenario")
        base = load_scenario(scenario_path)
        try:
            base = base.with_changes(*spec.set) if spec.set else base
        except ScenarioError as exc:
            raise _blame_set(exc, spec.set, file, lines) from None
        base = base.with_changes(*overrides) if overrides else base
        reps = spec.replications
    grids += [parse_grid(g) for g in grid_args]
    _check_grids(grids)
    reps = replications if replications is not None else reps
    if reps < 1:
        raise ScenarioError("must be at least 1", "--replications")
    return Sweep(base, grids, reps, source=str(target), percentiles=tuple(percentiles))


def _blame_set(exc: ScenarioError, assignments: list[str], file: str, lines: dict) -> ScenarioError:
    """An error from a sweep file's ``set`` entries, named by the entry it concerns (the one
    whose path the error's field starts with), else by the ``set`` key."""
    field = [p for p in exc.field.split(".") if p not in ("open", "fortio")]
    for i, assignment in enumerate(assignments):
        parts = assignment.partition("=")[0].strip().split(".")
        if field[: len(parts)] == parts:
            message = f"{assignment!r}: {exc.message}"
            return ScenarioError(message, file, lines.get(("set", i)), f"set.{i}")
    message = f"{exc.field}: {exc.message}" if exc.field else exc.message
    return ScenarioError(message, file, lines.get(("set",)), "set")


# --- running -------------------------------------------------------------------------------


def run_task(task: Task) -> dict[str, Any]:
    """Simulate one task and return its row (runs on a worker: no I/O here)."""
    started = time.perf_counter()
    row: dict[str, Any] = {"point": task.point, "replication": task.replication, **task.params}
    result: Result
    if task.engine == "analytic":
        from meshsim.analytic_results import solve_result

        result = solve_result(task.loaded, task.percentiles)
        for stat, value in result.latency()["ms"].items():
            row[f"latency_{stat}_ms"] = value
        summary = result.summary()
        row["throughput_rps"] = summary["throughput_rps"]
        row["requested_rps"] = summary["requested_rps"]
        row["measured_requests"] = summary["requests"]["measured"]
    else:
        rep = run_replication(task.loaded, task.replication)
        result = Result(task.loaded, [rep])
        for stat, value in rep.latency_ms(task.percentiles).items():
            row[f"latency_{stat}_ms"] = value
        row["throughput_rps"] = rep.throughput_rps
        row["requested_rps"] = rep.requested_rps
        row["measured_requests"] = rep.measured_completed
    row["engine"] = task.engine
    verdict = result.verdict()
    row["verdict"] = verdict["status"]
    row["bottleneck"] = verdict["bottleneck"]
    row["bottleneck_utilisation"] = verdict["bottleneck_utilisation"]
    row.update(result.kind_columns())
    prov = task.loaded.provenance()
    row["mode"] = task.loaded.scenario.mesh.mode
    row["seed"] = prov["seed"]
    row["scenario"] = prov["scenario"]
    row["scenario_name"] = prov["scenario_name"]
    row["scenario_sha256"] = prov["scenario_sha256"]
    row["overrides"] = " ".join(prov["overrides"])
    row["profile"] = prov["profile"]
    row["profile_sha256"] = prov["profile_sha256"]
    row["meshsim_version"] = __version__
    row["task"] = task.key
    row["wall_time_s"] = time.perf_counter() - started
    return row


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


class _Store:
    """The finished tasks of a sweep directory: one JSON file each, written atomically."""

    def __init__(self, out: Path) -> None:
        self.dir = out / POINTS_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        cutoff = time.time() - STALE_TEMP_S
        for temp in self.dir.glob(".*"):  # a write that was interrupted left its temporary
            with contextlib.suppress(FileNotFoundError):
                if temp.stat().st_mtime < cutoff:  # (a recent one may be another sweep's)
                    temp.unlink()

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def done(self, key: str) -> bool:
        return self.path(key).is_file()

    def save(self, row: dict[str, Any]) -> None:
        write_json(self.path(row["task"]), {k: _clean(v) for k, v in row.items()})

    def load(self, key: str) -> dict[str, Any]:
        return json.loads(self.path(key).read_text())


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_driver(driver: int) -> None:
    """Worker initializer: end this worker when the sweep's driver ends, even by ``kill -9``.

    Linux sends the signal chosen with ``PR_SET_PDEATHSIG`` when the parent dies; a watchdog
    thread covers other systems, and a driver that died before the worker got here. Ctrl-C and
    SIGTERM are the driver's to handle: it ends its workers itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    threading.Thread(target=_watch_driver, args=(driver,), daemon=True).start()


def _watch_driver(driver: int) -> None:
    forked_by_driver = os.getppid() == driver  # else a fork server started us
    while True:
        if forked_by_driver and os.getppid() != driver:  # adopted: the driver is gone
            os._exit(1)
        if not forked_by_driver:
            try:
                os.kill(driver, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
        time.sleep(0.5)


def start_workers(workers: int) -> ProcessPoolExecutor:
    """Worker processes that end when this process ends, however it ends (``_die_with_driver``);
    shared by sweeps and capacity searches."""
    return ProcessPoolExecutor(
        max_workers=workers, initializer=_die_with_driver, initargs=(os.getpid(),)
    )


def end_workers_now(pool: ProcessPoolExecutor) -> None:
    """Interrupted, or a worker died: end the running tasks now, not when they finish."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _local(tasks: list[Task], workers: int | None) -> Iterator[dict[str, Any]]:
    """Start the worker processes and submit every task now (before any progress-bar thread
    exists, so the workers fork from a single-threaded process); rows come back as they end."""
    pool = start_workers(workers or os.cpu_count() or 1)
    futures = [pool.submit(run_task, t) for t in tasks]

    def rows() -> Iterator[dict[str, Any]]:
        try:
            for fut in as_completed(futures):
                yield fut.result()
        except BaseException:
            end_workers_now(pool)
            raise
        pool.shutdown(wait=True)

    return rows()


def _dask(tasks: list[Task], scheduler: Any, workers: int | None) -> Iterator[dict[str, Any]]:
    try:
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_completed
    except ImportError:
        raise ScenarioError(
            "the dask executor needs dask.distributed: pip install 'meshsim[sweep]'", "--executor"
        ) from None
    cluster = None
    if isinstance(scheduler, Client):
        client, own = scheduler, False
    else:
        own = True
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1)
            scheduler = cluster
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            msg = f"cannot reach the Dask scheduler: {exc}".splitlines()[0]
            raise ScenarioError(msg, "--scheduler") from None
    try:
        futures = [client.submit(run_task, t, key=f"meshsim-{t.key}", pure=False) for t in tasks]
        try:
            for fut in dask_completed(futures):
                yield fut.result()
        finally:
            client.cancel(futures)
    finally:
        if own:
            client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    executor: Executor = "local",
    scheduler: Any = None,
    workers: int | None = None,
    progress: bool = True,
    limits: work.Limits | None = None,
    engine: str = "des",
) -> pd.DataFrame:
    """Run the tasks not yet on disk, then assemble and write the table; returns it.

    ``engine="analytic"`` solves each point as a queueing network (one replication each,
    in this process: a point takes milliseconds).

    ``scheduler``: a Dask scheduler address or ``dask.distributed.Client`` (dask executor);
    without one, a LocalCluster of ``workers`` processes is started for the sweep.
    ``limits``: refuse a sweep whose estimated work is over them (default: ``work.Limits()``).
    """
    if executor not in ("local", "dask"):
        raise ScenarioError(f"unknown executor {executor!r}; choose local or dask", "--executor")
    if workers is not None and workers < 1:
        raise ScenarioError("must be at least 1", "--workers")
    try:
        import pyarrow  # noqa: F401  (the table is written as parquet)
    except ImportError:
        raise ScenarioError("sweeps need pyarrow: pip install 'meshsim[sweep]'") from None
    out = Path(out)
    limits = limits or work.Limits()
    where = sweep.source or sweep.base.source
    analytic = engine == "analytic"
    if analytic:
        sweep = dataclasses.replace(sweep, replications=1)
    work.check_tasks(sweep.size(), where, limits)
    tasks = [dataclasses.replace(t, engine=engine) for t in sweep.tasks()]
    if analytic:
        tasks = [dataclasses.replace(t, key=t.key + "-analytic") for t in tasks]
    events = 0.0 if analytic else sum(work.replication_events(t.loaded.scenario) for t in tasks)
    largest = max((t.loaded.scenario for t in tasks), key=work.components)
    work.check(events, largest, where, "the sweep", limits, engine)
    with outdir.locked(out):
        _check_same_sweep(out, sweep)
        store = _Store(out)
        todo = [t for t in tasks if not store.done(t.key)]
        started = time.perf_counter()
        if todo:
            if analytic and executor == "local":
                rows: Iterator[dict[str, Any]] = (run_task(t) for t in todo)
            elif executor == "local":
                rows = _local(todo, workers)
            else:
                rows = _dask(todo, scheduler, workers)
            bar = _bar(len(tasks), len(tasks) - len(todo), progress)
            try:
                for row in rows:
                    store.save(row)
                    bar.update(1)
            finally:
                bar.close()
        table = assemble(sweep, tasks, store)
        with outdir.staged(out) as temp:
            _write(temp, sweep, table, executor, len(todo), time.perf_counter() - started)
    return table


def _identity(prov: dict[str, Any]) -> dict[str, Any]:
    """What makes two sweeps the same sweep (replications may grow, the version change)."""
    return {k: prov.get(k) for k in ("scenario_sha256", "overrides", "grid", "profile")}


def _check_same_sweep(out: Path, sweep: Sweep) -> None:
    """Refuse to replace another sweep's table (another scenario, grid or overrides)."""
    try:
        earlier = json.loads((out / "sweep.json").read_text())["provenance"]
    except (OSError, ValueError, KeyError, TypeError):
        return  # no finished sweep here (or not one we can read): nothing to protect
    if _identity(earlier) != _identity(_provenance(sweep)):
        raise ScenarioError(
            f"{out} holds the table of another sweep ({earlier.get('grid')}); choose another "
            "folder, or remove it to start over",
            "--out",
        )


def _bar(total: int, done: int, enabled: bool) -> Any:
    return counter("sweep", total, done, quiet=not enabled)


def assemble(sweep: Sweep, tasks: list[Task], store: _Store) -> pd.DataFrame:
    """The tidy table: one row per (point, replication), in grid order."""
    rows = [store.load(t.key) for t in tasks]
    table = pd.DataFrame(rows)
    for g in sweep.grids:  # mixed types (1, "auto") and structures are kept as text
        kinds = {type(v) for v in table[g.path] if v is not None}
        if kinds & {dict, list}:
            table[g.path] = table[g.path].map(lambda v: json.dumps(v, sort_keys=True))
        elif len(kinds) > 1 and not kinds <= {int, float}:
            table[g.path] = table[g.path].map(lambda v: v if v is None else str(v))
    return table.sort_values(["point", "replication"], kind="stable").reset_index(drop=True)


def _provenance(sweep: Sweep) -> dict[str, Any]:
    return {
        "sweep": sweep.source,
        "scenario": sweep.base.source,
        "scenario_sha256": sweep.base.scenario_sha256,
        "overrides": " ".join(sweep.base.overrides),
        "grid": " ".join(f"{g.path}={','.join(g.values)}" for g in sweep.grids),
        "replications": sweep.replications,
        "seed": sweep.base.scenario.sim.seed,  # a grid over sim.seed: see the seed column
        "profile": sweep.base.profile.name,
        "meshsim_version": __version__,
    }


def _write(
    out: Path, sweep: Sweep, table: pd.DataFrame, executor: str, ran: int, wall_s: float
) -> None:
    prov = _provenance(sweep)
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = {
        **(arrow.schema.metadata or {}),
        b"meshsim.units": json.dumps(UNITS).encode(),
        b"meshsim.provenance": json.dumps(prov).encode(),
    }
    buf = io.BytesIO()
    pq.write_table(arrow.replace_schema_metadata(meta), buf)
    write_bytes(out / "results.parquet", buf.getvalue())
    record_provenance(out / "results.parquet", list(table.columns), prov)
    write_csv(out / "results.csv", table, prov)
    write_json(
        out / "sweep.json",
        {
            "meshsim_version": __version__,
            "provenance": prov,
            "units": UNITS,
            "tasks": len(table),
            "points": len(sweep.points()),
            "last_run": {"executor": executor, "tasks_run": ran, "wall_time_s": round(wall_s, 3)},
        },
    )


def read_results(out: str | Path) -> pd.DataFrame:
    """The table a sweep wrote (parquet)."""
    return pd.read_parquet(Path(out) / "results.parquet")
