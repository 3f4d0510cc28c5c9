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

A sweep file is YAML naming a scenario (relative to the file), the grid, and optionally fixed
overrides and replications; ``--grid`` options add to its grid::

    scenario: ../scenarios/quickstart.yaml
    set: [workload.duration_s=2]
    grid:
      mesh.mode: [none, sidecar, ambient, waypoint]
      workload.generator.rate_rps: [100, 300, 1000]
    replications: 2
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from meshsim import __version__
from meshsim.errors import ScenarioError
from meshsim.loader import LoadedScenario, load_scenario
from meshsim.output import write_bytes, write_csv, write_json
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
    """One swept field: its dotted path and the values (as YAML text) it takes."""

    path: str
    values: tuple[str, ...]

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


@dataclass
class Sweep:
    """A base scenario, the grids to cross, and how many replications per point."""

    base: LoadedScenario
    grids: list[Grid]
    replications: int = 1
    source: str = ""
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES  # latency columns of the table

    def points(self) -> list[tuple[str, ...]]:
        """Every combination of grid values, as ``path=value`` assignments (row-major)."""
        return list(itertools.product(*(g.assignments() for g in self.grids)))

    def tasks(self) -> list[Task]:
        """Build and validate every point's scenario; raises ScenarioError on bad values."""
        out = []
        for point, assignments in enumerate(self.points()):
            loaded = _with_changes(self.base, assignments)
            params = {a.partition("=")[0]: yaml.safe_load(a.partition("=")[2]) for a in assignments}
            for rep in range(self.replications):
                key = _task_key(loaded, assignments, rep, self.percentiles)
                out.append(Task(key, point, rep, params, loaded, self.percentiles))
        return out


def _with_changes(base: LoadedScenario, assignments: Sequence[str]) -> LoadedScenario:
    try:
        return base.with_changes(*assignments)
    except ScenarioError as exc:
        where = "--grid " + ",".join(assignments)
        raise ScenarioError(exc.message, where, None, exc.field) from None


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


def parse_grid(text: str) -> Grid:
    """``PATH=V1,V2,...`` -> Grid; raises ScenarioError (one line) when malformed."""
    path, sep, rest = text.partition("=")
    path = path.strip()
    if not sep or not path or not rest.strip():
        raise ScenarioError("expected PATH=V1,V2,...", "--grid", None, text)
    if any(not p for p in path.split(".")) or any(c.isspace() for c in path):
        raise ScenarioError("bad field path", "--grid", None, text)
    values = split_values(rest)
    if any(not v for v in values):
        raise ScenarioError("empty value", "--grid", None, text)
    for v in values:
        try:
            yaml.safe_load(v)
        except yaml.YAMLError:
            raise ScenarioError(f"value {v!r} is not valid YAML", "--grid", None, path) from None
    if len(set(values)) != len(values):
        raise ScenarioError("a value is repeated", "--grid", None, text)
    return Grid(path, tuple(values))


def _check_grids(grids: list[Grid]) -> None:
    if not grids:
        raise ScenarioError("give at least one --grid PATH=V1,V2,... (or a sweep file grid)")
    seen: set[str] = set()
    for g in grids:
        if g.path in seen:
            raise ScenarioError("the same field is swept twice", "--grid", None, g.path)
        seen.add(g.path)


def read_sweep_file(path: Path) -> dict[str, Any] | None:
    """A sweep YAML (``scenario``, ``grid``, optional ``set``, ``replications``), or None
    when the file is a plain scenario."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", str(path)) from None
    except yaml.YAMLError:
        return None  # let the scenario loader report the syntax error with its line
    if not isinstance(raw, dict) or "grid" not in raw:
        return None
    unknown = set(raw) - {"scenario", "grid", "set", "replications", "description"}
    if unknown:
        raise ScenarioError(f"unknown key {sorted(unknown)[0]!r}", str(path))
    if not isinstance(raw.get("scenario"), str):
        raise ScenarioError("a sweep file names its scenario: 'scenario: PATH'", str(path))
    if not isinstance(raw["grid"], dict) or not raw["grid"]:
        raise ScenarioError("grid is a mapping PATH: [V1, V2, ...]", str(path), None, "grid")
    return raw


def build_sweep(
    target: str | Path,
    grid_args: Sequence[str] = (),
    overrides: Sequence[str] = (),
    replications: int | None = None,
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES,
) -> Sweep:
    """A Sweep from a scenario (or a sweep YAML) plus command-line grids and overrides."""
    target = Path(target)
    spec = read_sweep_file(target) if target.is_file() else None
    grids: list[Grid] = []
    fixed: list[str] = []
    reps = 1
    if spec is not None:
        scenario_path = (target.parent / spec["scenario"]).resolve()
        for path, values in spec["grid"].items():
            if not isinstance(values, list) or not values:
                raise ScenarioError("a list of values", str(target), None, f"grid.{path}")
            text = ",".join(json.dumps(v) if not isinstance(v, str) else v for v in values)
            grids.append(parse_grid(f"{path}={text}"))
        fixed = [str(s) for s in spec.get("set") or []]
        reps = int(spec.get("replications", 1))
    else:
        scenario_path = target
    grids += [parse_grid(g) for g in grid_args]
    _check_grids(grids)
    reps = replications if replications is not None else reps
    if reps < 1:
        raise ScenarioError("must be at least 1", "--replications")
    base = load_scenario(scenario_path, [*fixed, *overrides])
    return Sweep(base, grids, reps, source=str(target), percentiles=tuple(percentiles))


# --- running -------------------------------------------------------------------------------


def run_task(task: Task) -> dict[str, Any]:
    """Simulate one task and return its row (runs on a worker: no I/O here)."""
    started = time.perf_counter()
    rep = run_replication(task.loaded, task.replication)
    result = Result(task.loaded, [rep])
    row: dict[str, Any] = {"point": task.point, "replication": task.replication, **task.params}
    for stat, value in rep.latency_ms(task.percentiles).items():
        row[f"latency_{stat}_ms"] = value
    row["throughput_rps"] = rep.throughput_rps
    row["requested_rps"] = rep.requested_rps
    row["measured_requests"] = rep.measured_completed
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


def _local(tasks: list[Task], workers: int | None) -> Iterator[dict[str, Any]]:
    """Start the worker processes and submit every task now (before any progress-bar thread
    exists, so the workers fork from a single-threaded process); rows come back as they end."""
    pool = ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1)
    futures = [pool.submit(run_task, t) for t in tasks]

    def rows() -> Iterator[dict[str, Any]]:
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

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
) -> pd.DataFrame:
    """Run the tasks not yet on disk, then assemble and write the table; returns it.

    ``scheduler``: a Dask scheduler address or ``dask.distributed.Client`` (dask executor);
    without one, a LocalCluster of ``workers`` processes is started for the sweep.
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
    tasks = sweep.tasks()
    store = _Store(out)
    todo = [t for t in tasks if not store.done(t.key)]
    started = time.perf_counter()
    if todo:
        rows = _local(todo, workers) if executor == "local" else _dask(todo, scheduler, workers)
        bar = _bar(len(tasks), len(tasks) - len(todo), progress)
        try:
            for row in rows:
                store.save(row)
                bar.update(1)
        finally:
            bar.close()
    table = assemble(sweep, tasks, store)
    _write(out, sweep, table, executor, len(todo), time.perf_counter() - started)
    return table


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


def _write(
    out: Path, sweep: Sweep, table: pd.DataFrame, executor: str, ran: int, wall_s: float
) -> None:
    prov = {
        "sweep": sweep.source,
        "scenario": sweep.base.source,
        "scenario_sha256": sweep.base.scenario_sha256,
        "overrides": " ".join(sweep.base.overrides),
        "grid": " ".join(f"{g.path}={','.join(g.values)}" for g in sweep.grids),
        "replications": sweep.replications,
        "profile": sweep.base.profile.name,
        "meshsim_version": __version__,
    }
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
