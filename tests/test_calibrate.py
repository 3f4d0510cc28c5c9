"""Calibration and validation: measurements in, fitted profile and honest errors out."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest
import yaml
from conftest import ROOT, SCENARIOS, meshsim_cmd

from meshsim.additive import Additive
from meshsim.calibrate import Calibrator, FreeParameter, simulated_metrics
from meshsim.loader import load_scenario
from meshsim.measurements import load_measurements, scenario_for, select
from meshsim.simulate import simulate

FIXTURES = sorted((ROOT / "data" / "fortio").glob("*.json"))
TEMPLATE = SCENARIOS / "calibration" / "istio-1.2-gke.yaml"


def test_fixtures_become_points_with_latency_and_cpu() -> None:
    points = load_measurements(FIXTURES)
    c16 = select(points, "campaign == '193ff770' and connections == 16").set_index("point")
    assert len(c16) == 3
    both = c16.loc["193ff770:sidecar-both:c16:q1000"]
    assert both["p50"] == pytest.approx(4.380, abs=0.001)  # from the fortio JSON, in ms
    assert both["cpu_sidecar_server"] == 439  # joined from istio/tools' record of that run
    # the single-connection run that achieved 742 of 1000 qps is not a valid point
    assert "193ff770:sidecar-both:c1:q1000" not in set(points["point"])
    everything = load_measurements(FIXTURES, include_invalid=True)
    assert "193ff770:sidecar-both:c1:q1000" in set(everything["point"])


def test_additive_baseline_equals_the_simulation_when_nothing_queues() -> None:
    loaded = load_scenario(
        SCENARIOS / "seed-claims.yaml",
        [
            "workload.generator.rate_rps=5",
            "workload.generator.arrivals=constant",
            "workload.duration_s=20",
            "sim.replications=1",
            "mesh.requests_per_connection=1",
        ],
    )
    latency_s, vcpu = Additive(loaded).predict()
    simulated = simulate(loaded)
    assert simulated.latency().loc["mean", "ms"] == pytest.approx(latency_s * 1e3, rel=0.01)
    sidecars = simulated.resources().query("kind == 'sidecar'")["vcpu"].sum()
    assert sidecars == pytest.approx(sum(v for k, v in vcpu.items() if "sidecar" in k), rel=0.05)


def _synthetic(truth_us: float) -> tuple[pd.DataFrame, object]:
    """Measurements made by meshsim itself with a known sidecar CPU cost."""
    template = load_scenario(TEMPLATE, ["workload.client.cpu_per_request_us=1"])
    truth = template.with_changes(
        f"params.sidecar.request_cpu_us={truth_us}",
        f"params.sidecar.response_cpu_us={truth_us / 2}",
    )
    rows = []
    for conns, variant in ((4, "both"), (16, "both"), (16, "server-only")):
        point = pd.Series(
            {
                "point": f"synthetic:c{conns}:{variant}",
                "mode": "sidecar",
                "variant": variant,
                "connections": conns,
                "requested_qps": 1000.0,
                "payload_bytes": 1024,
                "campaign": "synthetic",
            }
        )
        rows.append(
            {**point.to_dict(), **simulated_metrics(simulate(scenario_for(truth, point, 1.5)))}
        )
    return pd.DataFrame(rows), template


@pytest.mark.slow
def test_calibration_recovers_a_known_parameter() -> None:
    points, template = _synthetic(truth_us=300.0)
    free = [
        FreeParameter(
            "sidecar_cpu_us",
            ("params.sidecar.request_cpu_us", "params.sidecar.response_cpu_us"),
            10,
            2000,
        ),
        FreeParameter("waypoint_cpu_us", ("params.waypoint.request_cpu_us",), 10, 2000),
    ]
    cal = Calibrator(
        template, free, ("p50", "p90", "cpu_sidecar_server"), duration_s=1.5, max_evaluations=25
    ).fit(points)
    assert cal.values_["sidecar_cpu_us"] == pytest.approx(300.0, rel=0.1)
    table = cal.sensitivity_.set_index("parameter")
    assert table.loc["sidecar_cpu_us", "identified"]
    # sidecar-only data says nothing about waypoints: reported, and left where it started
    assert not table.loc["waypoint_cpu_us", "identified"]
    assert cal.values_["waypoint_cpu_us"] == pytest.approx(table.loc["waypoint_cpu_us", "start"])
    assert cal.residuals_["error_pct"].abs().max() < 15
    assert cal.warnings_ == []  # 2 parameters against 9 measured values


@pytest.mark.slow
def test_calibrate_on_16_connections_and_validate_on_1_and_64(tmp_path) -> None:
    out = tmp_path / "fitted.yaml"
    report = tmp_path / "validation"
    cmd = [
        *meshsim_cmd(),
        "calibrate",
        *map(str, FIXTURES),
        "--scenario",
        str(TEMPLATE),
        "--out",
        str(out),
        "--quiet",
        "--duration",
        "1.5",
        "--max-evaluations",
        "10",
        "--fit-on",
        "campaign == '193ff770' and connections == 16",
        "--holdout",
        "campaign == '193ff770' and connections in (1, 64)",
        "--report",
        str(report),
        "--free",
        "network_ms=network.same_zone_ms:0.01:2",
        "--free",
        "sidecar_cpu_us=params.sidecar.request_cpu_us+params.sidecar.response_cpu_us:10:3000",
    ]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
    profile = yaml.safe_load(out.read_text())
    assert profile["calibration"]["fit_on"].endswith("connections == 16")
    assert {p["parameter"] for p in profile["calibration"]["parameters"]} == {
        "network_ms",
        "sidecar_cpu_us",
    }
    assert "sidecar.request_cpu_us" in profile["provenance"]
    table = pd.read_csv(report / "validation.csv")
    # the single-connection run that missed its rate is listed as dropped, not scored
    dropped = table[table["set"] == "dropped"].set_index("point")
    assert dropped.loc["193ff770:sidecar-both:c1:q1000", "dropped_because"].startswith("invalid")
    table = table[table["set"] != "dropped"]
    assert set(table["set"]) == {"fit", "holdout"}
    assert set(table.loc[table["set"] == "holdout", "connections"]) == {1, 64}
    assert {"meshsim", "additive", "measured", "meshsim_error_pct", "additive_error_pct"} <= set(
        table.columns
    )
    summary = json.loads((report / "summary.json").read_text())
    for metric in ("p50", "p90", "p99", "cpu"):
        assert summary["mape_pct"][metric] >= 0
        assert metric in summary["additive_mape_pct"]
    assert (report / "predicted-vs-measured.png").stat().st_size > 1000
    assert (report / "latency-vs-connections.png").exists()
    # the same profile validates again from its own record of template and environment
    again = tmp_path / "again"
    subprocess.run(
        [
            *meshsim_cmd(),
            "validate",
            str(out),
            *map(str, FIXTURES),
            "--out",
            str(again),
            "--quiet",
            "--duration",
            "1.5",
            "--select",
            "campaign == '193ff770' and connections == 64",
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    assert (again / "validation.csv").exists()


def test_bad_selector_is_one_line(tmp_path) -> None:
    proc = subprocess.run(
        [
            *meshsim_cmd(),
            "calibrate",
            str(FIXTURES[0]),
            "--scenario",
            str(TEMPLATE),
            "--out",
            str(tmp_path / "p.yaml"),
            "--fit-on",
            "connections === 16",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (tmp_path / "p.yaml").exists()
