"""Operations over time (issue 13): conservation through every event, Kubernetes rollout
semantics, which pods each rollout restarts, and reproducible time series."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from meshsim.engine import Engine
from meshsim.errors import ScenarioError
from meshsim.loader import load_scenario

BASE = {
    "name": "rollout-test",
    "cluster": {"nodes": [{"name": "n", "count": 4, "cores": 4, "zone": "z"}]},
    "services": {
        "front": {
            "replicas": 4,
            "service_time": {"type": "exponential", "mean_ms": 1.0},
            "calls": [{"service": "back"}],
        },
        "back": {"replicas": 4, "service_time": {"type": "exponential", "mean_ms": 1.0}},
    },
    "workload": {
        "entry": "front",
        "generator": {"type": "open", "rate_rps": 150},
        "duration_s": 14,
        "warmup_s": 0.5,
        "client": {"node": "n-0"},
    },
    "mesh": {"mode": "sidecar", "requests_per_connection": 20},
    "sim": {"seed": 3, "replications": 1},
    "operations": {"window_s": 0.5},
}
FAST = {"startup_ms": 800, "readiness_ms": 400}

EVENTS = {
    "envoy": {"type": "rolling_update", "at_s": 1, "component": "envoy", **FAST},
    "ztunnel": {"type": "rolling_update", "at_s": 1, "component": "ztunnel", **FAST},
    "app": {"type": "rolling_update", "at_s": 1, "component": "app", "deployment": "back", **FAST},
    "node_failure": {
        "type": "node_failure",
        "at_s": 1,
        "node": "n-1",
        "detection_s": 2,
        "down_s": 4,
        "startup_ms": 500,
    },
    "node_drain": {"type": "node_drain", "at_s": 1, "node": "n-2", **FAST},
    "config_push": {"type": "config_push", "at_s": 1},
}


def _load(tmp_path: Path, events: list[dict], *overrides: str, **sections: dict):
    doc = {**BASE, **sections, "events": events}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_scenario(path, list(overrides))


def _run(loaded, mode: str):
    engine = Engine(loaded.replace(mesh={"mode": mode}), 0)
    rec = engine.run()
    return engine, rec


@pytest.mark.parametrize("event", sorted(EVENTS))
@pytest.mark.parametrize("mode", ["sidecar", "ambient", "waypoint"])
def test_every_request_and_attempt_is_counted_once(tmp_path: Path, event: str, mode: str) -> None:
    engine, rec = _run(_load(tmp_path, [EVENTS[event]]), mode)
    ops = engine.ops
    assert rec.stop_reason == "complete" and rec.in_flight == 0
    assert rec.arrived == rec.completed + rec.failed
    assert rec.area == pytest.approx(rec.latency_sum, rel=1e-9)
    a = ops.attempts
    assert a["started"] == a["served"] + a["failed"] + a["retried"]
    series = ops.timeseries()
    assert sum(r["served"] for r in series) == rec.completed
    assert sum(r["failed"] for r in series) == rec.failed
    assert sum(r["retried"] for r in series) == a["retried"]
    # a request fails when one of its calls fails and is not retried: at least one attempt each
    assert a["failed"] >= rec.failed
    assert ops.rollout(series)["complete"]


def test_events_do_fail_and_retry_requests(tmp_path: Path) -> None:
    """The conservation test above is not vacuous: a node failure fails requests in ambient
    (ztunnel does not retry) and is retried by the callers' sidecars in sidecar mode."""
    loaded = _load(tmp_path, [EVENTS["node_failure"]])
    _, ambient = _run(loaded, "ambient")
    engine, sidecar = _run(loaded, "sidecar")
    assert ambient.failed > 0
    assert engine.ops.attempts["retried"] > 0
    assert sidecar.failed < ambient.failed


def test_max_unavailable_25pct_without_surge_keeps_75pct_ready(tmp_path: Path) -> None:
    event = {**EVENTS["envoy"], "max_surge": 0, "max_unavailable": "25%"}
    engine, _ = _run(_load(tmp_path, [event]), "sidecar")
    lowest = engine.ops.lowest_ready
    assert min(lowest.values()) == 0.75  # 4 replicas: one down at a time, and it happens
    low = min(r["pods_ready_pct"] for r in engine.ops.timeseries() if "pods_ready_pct" in r)
    assert low >= 75.0


def test_surge_keeps_every_pod_ready(tmp_path: Path) -> None:
    event = {**EVENTS["envoy"], "max_surge": 1, "max_unavailable": 0}
    engine, _ = _run(_load(tmp_path, [event]), "sidecar")
    assert set(engine.ops.lowest_ready.values()) == {1.0}


def test_envoy_rollout_restarts_app_pods_in_sidecar_mode_only(tmp_path: Path) -> None:
    loaded = _load(tmp_path, [EVENTS["envoy"]])
    engine, _ = _run(loaded, "sidecar")
    apps = [s for s in engine.ops.slots.values() if s.kind == "app"]
    assert len(apps) == 8 and all(s.restarts == 1 for s in apps)
    assert engine.ops.restarted["app_pods"] == 8 == engine.ops.restarted["sidecar"]
    for mode in ("ambient", "waypoint"):
        engine, _ = _run(loaded, mode)
        assert engine.ops.restarted["app_pods"] == 0
        assert engine.ops.restarted["waypoint"] == (1 if mode == "waypoint" else 0)


def test_ztunnel_rollout_restarts_no_app_pod(tmp_path: Path) -> None:
    loaded = _load(tmp_path, [EVENTS["ztunnel"]])
    for mode in ("ambient", "waypoint"):
        engine, _ = _run(loaded, mode)
        assert engine.ops.restarted["app_pods"] == 0
        assert engine.ops.restarted["ztunnel"] == 4  # every node
        assert engine.ops.reopened > 0  # connections move to the new ztunnels (handshakes)
    engine, _ = _run(loaded, "sidecar")  # no ztunnel in sidecar mode
    assert engine.ops.restarted == {"app_pods": 0, "sidecar": 0, "ztunnel": 0, "waypoint": 0}


@pytest.mark.slow
def test_same_seed_same_time_series(tmp_path: Path) -> None:
    loaded = _load(tmp_path, [EVENTS["ztunnel"], EVENTS["config_push"]])
    first, _ = _run(loaded, "waypoint")
    second, _ = _run(loaded, "waypoint")
    assert first.ops.timeseries() == second.ops.timeseries()
    other, _ = _run(loaded.with_changes("sim.seed=4"), "waypoint")
    assert other.ops.timeseries() != first.ops.timeseries()


def test_no_events_no_operations(tmp_path: Path) -> None:
    engine, _ = _run(_load(tmp_path, []), "sidecar")
    assert engine.ops is None


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "node_failure", "at_s": 1, "node": "nowhere"}, "node"),
        (
            {"type": "rolling_update", "at_s": 1, "component": "app", "deployment": "x"},
            "deployment",
        ),
        (
            {"type": "rolling_update", "at_s": 1, "component": "envoy", "max_surge": "125%"},
            "max_surge",
        ),
        ({"type": "rolling_update", "at_s": -1, "component": "envoy"}, "at_s"),
        ({"type": "config_push", "at_s": 1, "cpu_us_per_item": float("inf")}, "cpu_us_per_item"),
    ],
)
def test_bad_events_name_their_field(tmp_path: Path, event: dict, field: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        _load(tmp_path, [event])
    assert field in str(caught.value)


@pytest.mark.slow
def test_rollout_command_writes_table_series_and_plot(tmp_path: Path, capsys) -> None:
    from meshsim.cli import main

    _load(tmp_path, [EVENTS["envoy"]], **{"workload": {**BASE["workload"], "duration_s": 6}})
    out = tmp_path / "out"
    argv = ["rollout", str(tmp_path / "scenario.yaml"), "--component", "ztunnel"]
    assert main([*argv, "--modes", "sidecar,ambient", "--quiet", "--out", str(out)]) == 0
    table = pd.read_csv(out / "rollout.csv", comment="#")
    assert list(table["mode"]) == ["sidecar", "ambient"]
    assert list(table["proxies_restarted"]) == [0, 4]  # no ztunnel in sidecar mode; 4 nodes
    series = pd.read_csv(out / "timeseries.csv", comment="#")
    assert set(series["mode"]) == {"sidecar", "ambient"}
    assert (out / "rollout.png").stat().st_size > 0


def test_rollout_without_a_rolling_update_is_refused(tmp_path: Path, capsys) -> None:
    from meshsim.cli import main

    _load(tmp_path, [EVENTS["config_push"]])
    argv = ["rollout", str(tmp_path / "scenario.yaml"), "--component", "envoy", "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "events" in err[0] and "rolling_update" in err[0]


@pytest.mark.parametrize("mode", ["sidecar", "ambient", "waypoint"])
def test_the_operations_path_changes_nothing_before_an_event(tmp_path: Path, mode: str) -> None:
    """Calls routed through meshsim.operations draw and queue exactly as the engine's own path
    until an event happens: an event after the run gives the numbers of a run without one."""
    late = {"type": "config_push", "at_s": 1000}
    with_ops, rec = _run(_load(tmp_path, [late]), mode)
    plain, base = _run(_load(tmp_path, []), mode)
    assert with_ops.ops is not None and plain.ops is None
    assert rec.latency.quantiles([0.5, 0.99]) == base.latency.quantiles([0.5, 0.99])
    assert rec.latency_sum == base.latency_sum
    assert {k: u.cpu_s for k, u in rec.usage.items()} == {k: u.cpu_s for k, u in base.usage.items()}
