"""A simulated run as fortio JSON and HdrHistogram text, read back by real_bench's importer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SCENARIOS

from meshsim.api import load, simulate
from meshsim.export import hgrm_levels, to_fortio, to_hgrm
from meshsim.stats import RELATIVE_ERROR
from real_bench.fortio import calc_percentile
from real_bench.importers import load_file

BUCKET = 2 * RELATIVE_ERROR + 1e-9  # one log bucket, relative


@pytest.fixture(scope="module")
def result():  # a short sidecar run, two replications pooled
    loaded = load(
        str(SCENARIOS / "quickstart.yaml"),
        ["workload.duration_s=1.5", "workload.warmup_s=0.3", "mesh.mode=sidecar"],
    )
    return simulate(loaded, replications=2)


def test_real_bench_import_reads_the_fortio_json_back(result, tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    doc = to_fortio(result)
    path.write_text(json.dumps(doc))
    (record,) = load_file(path)
    pooled = result.pooled_latency()
    assert record.mode == "sidecar"
    assert record.latency.count == pooled.count
    assert record.latency.mean_us == pytest.approx(pooled.mean() * 1e6)
    p50, p90, p99 = pooled.quantiles([0.5, 0.9, 0.99])
    for got, want in (
        (record.latency.p50_us, p50),
        (record.latency.p90_us, p90),
        (record.latency.p99_us, p99),
    ):
        assert got == pytest.approx(want * 1e6, rel=BUCKET)
    # without the stored percentiles, fortio's own interpolation over the exported buckets
    hist = doc["DurationHistogram"]
    for p, want in ((50, p50), (90, p90), (99, p99)):
        assert calc_percentile(hist, p) == pytest.approx(want, rel=BUCKET)
    assert sum(b["Count"] for b in hist["Data"]) == hist["Count"]
    assert hist["Data"][-1]["Percent"] == pytest.approx(100.0)


def test_hgrm_is_hdrhistograms_percentile_table(result) -> None:
    text = to_hgrm(result)
    lines = text.splitlines()
    assert lines[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    rows = [line.split() for line in lines[2:] if line and not line.startswith("#")]
    values = [float(r[0]) for r in rows]
    percentiles = [float(r[1]) for r in rows]
    assert values == sorted(values) and percentiles == sorted(percentiles)
    assert percentiles[0] == 0.0 and percentiles[-1] == 1.0
    pooled = result.pooled_latency()
    assert int(rows[-1][2]) == pooled.count
    at_half = values[percentiles.index(0.5)]
    assert at_half == pytest.approx(pooled.quantiles([0.5])[0] * 1e3, abs=1e-3)
    assert lines[-2].startswith("#[Max") and f"{pooled.maximum * 1e3:.3f}" in lines[-2]


def test_hgrm_levels_follow_hdrhistogram_ticks() -> None:
    levels = hgrm_levels()
    assert levels[:6] == pytest.approx([0, 10, 20, 30, 40, 50])
    assert levels[6:11] == pytest.approx([55, 60, 65, 70, 75])
    assert levels[-1] == 100.0


def test_cli_exports_and_real_bench_imports_them(tmp_path: Path) -> None:
    import subprocess

    import pandas as pd
    from conftest import meshsim_cmd

    from real_bench.cli import main as real_bench

    fortio, hgrm = tmp_path / "run.json", tmp_path / "run.hgrm"
    proc = subprocess.run(
        [
            *meshsim_cmd(),
            "run",
            str(SCENARIOS / "mm1.yaml"),
            "--set",
            "workload.duration_s=1.5",
            "--set",
            "workload.warmup_s=0.2",
            "--replications",
            "1",
            "--quiet",
            "--json",
            "--fortio-json",
            str(fortio),
            "--hgrm",
            str(hgrm),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert real_bench(["import", str(fortio), "--out", str(tmp_path / "t.csv")]) == 0
    row = pd.read_csv(tmp_path / "t.csv").iloc[0]
    assert row["mode"] == summary["mode"] == "none"
    # one replication: meshsim's p50 and the imported one come from the same histogram
    assert row["latency_p50_us"] == pytest.approx(summary["latency_ms"]["p50"] * 1e3, rel=BUCKET)
    assert "Percentile" in hgrm.read_text()
