"""The command line end to end: files written, units and provenance, the comparison."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
from conftest import ROOT, SCENARIOS, meshsim_cmd

from meshsim.output import read_csv


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*meshsim_cmd(), *args], capture_output=True, text=True, cwd=ROOT, check=True
    )


def test_run_writes_summary_hops_and_resources(tmp_path) -> None:
    out = tmp_path / "run"
    proc = _run(
        "run",
        str(SCENARIOS / "quickstart.yaml"),
        "--quiet",
        "--out",
        str(out),
        "--replications",
        "2",
        "--set",
        "workload.duration_s=2",
    )
    assert "latency (ms" in proc.stdout
    doc = json.loads((out / "summary.json").read_text())
    for key in ("mean", "p50", "p90", "p99"):
        assert doc["latency_ms"][key] > 0
        low, high = doc["latency_ms_ci95"][key]
        assert low <= doc["latency_ms"][key] <= high
    assert doc["latency_ms"]["p50"] <= doc["latency_ms"]["p99"]
    prov = doc["provenance"]
    assert prov["scenario_sha256"].startswith("sha256:")
    assert prov["profile"] == "istio-1.24-published"
    assert prov["seed"] == 42
    assert doc["meshsim_version"]
    assert doc["units"]["latency_ms"].startswith("milliseconds")
    hops = read_csv(out / "hops.csv")
    assert {"app", "sidecar_out", "sidecar_in", "kernel", "network"} <= set(hops["hop"])
    res = read_csv(out / "resources.csv")
    assert {"app", "sidecar", "kernel", "node"} <= set(res["kind"])
    assert (res["vcpu"] >= 0).all()
    header = (out / "hops.csv").read_text().splitlines()[0]
    assert header.startswith("hop,")  # plain CSV: provenance is in provenance.json
    side = json.loads((out / "provenance.json").read_text())["tables"]["hops.csv"]
    assert side["provenance"]["seed"] == 42 and side["units"]["wait_mean_ms"] == "ms"


def test_compare_fortio_shows_what_each_mode_adds(tmp_path) -> None:
    out = tmp_path / "cmp"
    _run(
        "compare",
        str(SCENARIOS / "fortio-2pod.yaml"),
        "--quiet",
        "--out",
        str(out),
        "--replications",
        "1",
        "--set",
        "workload.duration_s=3",
    )
    table = read_csv(out / "compare.csv").set_index("mode")
    assert list(table.index) == ["none", "sidecar", "ambient", "waypoint", "linkerd", "cilium"]
    added = table["added_p50_ms"]
    assert added["none"] == 0
    # two L7 Envoys cost more than two L4 ztunnels; a waypoint puts L7 back on the path
    assert added["sidecar"] > added["ambient"] > 0
    assert added["waypoint"] > added["ambient"]
    # Cilium's L4 path has no user-space proxy: eBPF and WireGuard in the kernels only
    assert added["ambient"] > added["cilium"] > 0
    assert table.loc["none", "vcpu_mesh"] == 0
    assert table.loc["sidecar", "vcpu_sidecar"] > table.loc["ambient", "vcpu_ztunnel"] > 0
    assert table.loc["waypoint", "vcpu_waypoint"] > 0
    # the per-hop breakdown explains the difference: the sidecar hops' time per request
    hops = read_csv(out / "hops.csv")
    sidecar = hops[hops["mode"] == "sidecar"].set_index("hop")["per_request_ms"]
    none = hops[hops["mode"] == "none"].set_index("hop")["per_request_ms"]
    explained = sidecar.sum() - none.sum()
    assert abs(explained - added["sidecar"]) < 0.25 * added["sidecar"]
    assert (out / "report.md").read_text().startswith("# meshsim comparison")


def test_schema_is_json_schema() -> None:
    proc = _run("schema")
    schema = json.loads(proc.stdout)
    assert schema["title"] == "Scenario"
    assert {"cluster", "services", "workload", "mesh"} <= set(schema["properties"])


def test_check_and_profiles() -> None:
    assert "ok" in _run("check", str(SCENARIOS / "quickstart.yaml")).stdout
    assert "seed-claims" in _run("profiles").stdout.split()


def test_compare_api_returns_dataframes() -> None:
    from meshsim.loader import load_scenario
    from meshsim.simulate import compare

    loaded = load_scenario(
        SCENARIOS / "seed-claims.yaml", ["sim.replications=1", "workload.duration_s=3"]
    )
    table = compare(loaded, ["none", "sidecar", "ambient"]).table().set_index("mode")
    assert isinstance(table, pd.DataFrame)
    # the claim's assumptions: ~2 ms per L7 traversal, ~0.5 ms per L4 traversal, two of each
    assert 3.8 < table.loc["sidecar", "added_p50_ms"] < 4.8
    assert 0.9 < table.loc["ambient", "added_p50_ms"] < 1.4
