"""Sweeps: the same table on local processes and on Dask, resumable after a kill, bad input
rejected in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from meshsim.cli import main
from meshsim.errors import ScenarioError
from meshsim.sweep import build_sweep, parse_grid, read_results, run_sweep, split_values

ROOT = Path(__file__).resolve().parent.parent
FORTIO = str(ROOT / "scenarios" / "fortio-2pod.yaml")
SHORT = ["workload.duration_s=0.3", "workload.warmup_s=0.05"]
GRIDS = ["mesh.mode=none,sidecar", "workload.generator.connections=1,4"]
NOT_REPRODUCIBLE = ["wall_time_s"]


def _table(out: Path) -> pd.DataFrame:
    return read_results(out).drop(columns=NOT_REPRODUCIBLE)


def test_local_processes_and_dask_cluster_give_identical_tables(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    sweep = build_sweep(FORTIO, GRIDS, SHORT, replications=1)
    local = run_sweep(sweep, tmp_path / "local", "local", workers=2, progress=False)
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        run_sweep(sweep, tmp_path / "dask", "dask", cluster.scheduler_address, progress=False)
    assert len(local) == 4
    grid = local[["mesh.mode", "workload.generator.connections"]]
    assert sorted(grid.itertuples(index=False, name=None)) == [
        ("none", 1),
        ("none", 4),
        ("sidecar", 1),
        ("sidecar", 4),
    ]
    pd.testing.assert_frame_equal(_table(tmp_path / "local"), _table(tmp_path / "dask"))
    csv = pd.read_csv(tmp_path / "local" / "results.csv")
    assert list(csv.columns) == list(local.columns)
    assert (local["latency_p99_ms"] >= local["latency_p50_ms"]).all()
    assert set(local["seed"]) == {2019}


@pytest.mark.slow
def test_killed_sweep_resumes_without_losing_or_duplicating(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "meshsim.cli", "sweep", FORTIO, "--out", str(out)]
    cmd += ["--grid", "workload.generator.connections=1,2,4", "--grid", "mesh.mode=none,sidecar"]
    cmd += ["--grid", "sim.seed=1,2"]
    cmd += ["--set", "workload.duration_s=0.6", "--set", "workload.warmup_s=0.1"]
    cmd += ["--workers", "1", "--quiet", "--replications", "1"]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    points = out / "points"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not list(points.glob("*.json")):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker processes
        proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in points.glob("*.json")}
    assert 1 <= len(before) < 12, "the kill should land part way through the sweep"
    for name in before:  # every file on disk is whole
        json.loads((points / name).read_text())
    assert not (out / "results.parquet").exists()

    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = read_results(out)
    assert len(table) == 12
    assert table["task"].is_unique
    grid = ["workload.generator.connections", "mesh.mode", "sim.seed"]
    points_run = set(table[grid].itertuples(False, None))
    assert points_run == {(c, m, s) for c in (1, 2, 4) for m in ("none", "sidecar") for s in (1, 2)}
    assert len(list(points.glob("*.json"))) == 12
    assert {n: (points / n).stat().st_mtime_ns for n in before} == before  # skipped, not rerun
    last = json.loads((out / "sweep.json").read_text())["last_run"]
    assert last["tasks_run"] == 12 - len(before)


@pytest.mark.parametrize(
    "grid",
    [
        "mesh.mode",  # no values
        "mesh.mode=",
        "=none,sidecar",
        "mesh.mode=none,,sidecar",
        "mesh.mode=none,bogus",  # fails validation
        "mesh.nosuch=1,2",
        "cluster.nodes.7.cores=1,2",  # no such element
        "workload.generator.connections=1,1",
    ],
)
def test_bad_grid_exits_2_with_one_line(grid: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    code = main(["sweep", FORTIO, "--grid", grid, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("meshsim: error: ") and err.count("\n") == 1, err
    assert not out.exists(), "nothing runs when a point is invalid"


def test_no_grid_and_repeated_field_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="at least one"):
        build_sweep(FORTIO, [])
    with pytest.raises(ScenarioError, match="twice"):
        build_sweep(FORTIO, ["mesh.mode=none", "mesh.mode=sidecar"])
    with pytest.raises(ScenarioError, match="executor"):
        run_sweep(build_sweep(FORTIO, ["mesh.mode=none"]), tmp_path, "threads")  # type: ignore[arg-type]


def test_values_split_outside_brackets() -> None:
    assert split_values("a,[1, 2],{x: 1, y: 2},'c,d'") == ["a", "[1, 2]", "{x: 1, y: 2}", "'c,d'"]
    assert parse_grid("sim.seed=1,2").values == ("1", "2")


def test_sweep_file_gives_grid_and_overrides(tmp_path: Path) -> None:
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        f"scenario: {FORTIO}\n"
        "set: [workload.duration_s=0.2, workload.warmup_s=0.05]\n"
        "grid:\n  mesh.mode: [none, ambient]\n  sim.seed: [1, 2]\n"
        "replications: 1\n"
    )
    sweep = build_sweep(spec, ["workload.generator.qps=500"])
    assert [g.path for g in sweep.grids] == ["mesh.mode", "sim.seed", "workload.generator.qps"]
    assert len(sweep.tasks()) == 4
    table = run_sweep(sweep, tmp_path / "out", workers=1, progress=False)
    assert list(table["sim.seed"]) == [1, 2, 1, 2]
    assert list(table["seed"]) == [1, 2, 1, 2]
    assert (table["requested_rps"] == 500).all()


def test_shipped_sweep_file_is_valid() -> None:
    sweep = build_sweep(ROOT / "sweeps" / "quickstart-modes-load.yaml")
    assert len(sweep.tasks()) == 4 * 3 * 2
    assert sweep.base.scenario.name == "quickstart"


def test_structured_values_become_json_text_columns(tmp_path: Path) -> None:
    near = "[{name: wp, services: [fortioserver], nodes: [n1]}]"
    far = "[{name: wp, services: [fortioserver], nodes: [n3]}]"
    sweep = build_sweep(
        FORTIO, [f"mesh.waypoints={near},{far}"], [*SHORT, "mesh.mode=waypoint"], replications=1
    )
    table = run_sweep(sweep, tmp_path, workers=1, progress=False)
    assert [json.loads(v)[0]["nodes"] for v in table["mesh.waypoints"]] == [["n1"], ["n3"]]
