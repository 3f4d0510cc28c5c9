"""Outputs other tools read: every CSV a command writes opens with plain ``pd.read_csv(path)``,
its provenance and units sit in the folder's provenance.json, and ``--json`` prints only JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, SCENARIOS, meshsim_cmd

SHORT = ["--set", "workload.duration_s=1.2", "--set", "workload.warmup_s=0.2"]
LOCAL = ROOT / "real_bench" / "results" / "local-full" / "records.jsonl"
LOCAL_PROFILE = ROOT / "reports" / "validation" / "real-bench-local-250-2000rps" / "profile.yaml"


def _meshsim(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [*meshsim_cmd(), *args], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def _check_folder(folder: Path) -> list[str]:
    """Every CSV reads with no options; each has provenance and a unit for every column."""
    sidecar = json.loads((folder / "provenance.json").read_text())
    names = sorted(p.name for p in folder.glob("*.csv"))
    assert names, f"no CSV in {folder}"
    for name in names:
        table = pd.read_csv(folder / name)
        assert len(table) > 0 and not any(str(c).startswith("#") for c in table.columns)
        entry = sidecar["tables"][name]
        prov = entry["provenance"]
        assert prov["meshsim_version"], name
        assert "seed" in prov and "profile" in prov, name
        assert "scenario" in prov or "sweep" in prov, name
        assert set(entry["units"]) == {str(c) for c in table.columns}, name
        for column, unit in entry["units"].items():
            if column.endswith("_ms"):
                assert unit == "ms", (name, column)
    return names


@pytest.mark.slow
def test_every_csv_of_every_command_reads_plainly(tmp_path: Path) -> None:
    quick = str(SCENARIOS / "quickstart.yaml")
    _meshsim("run", quick, *SHORT, "--replications", "1", "--quiet", "--out", str(tmp_path / "r"))
    assert _check_folder(tmp_path / "r") == ["hops.csv", "resources.csv"]
    _meshsim(
        "compare",
        quick,
        *SHORT,
        "--replications",
        "2",
        "--modes",
        "none,ambient",
        "--quiet",
        "--out",
        str(tmp_path / "c"),
    )
    assert "compare.csv" in _check_folder(tmp_path / "c")
    mm1 = str(SCENARIOS / "mm1.yaml")
    _meshsim(
        "capacity",
        mm1,
        "--slo",
        "mean<=5ms",
        "--modes",
        "none",
        "--requests-per-point",
        "500",
        "--tolerance",
        "0.2",
        "--quiet",
        "--out",
        str(tmp_path / "cap"),
    )
    assert _check_folder(tmp_path / "cap") == ["capacity.csv"]
    _meshsim(
        "report",
        quick,
        *SHORT,
        "--replications",
        "1",
        "--modes",
        "none,sidecar",
        "--requests-per-point",
        "300",
        "--tolerance",
        "0.3",
        "--quiet",
        "--out",
        str(tmp_path / "rep"),
    )
    assert "capacity.csv" in _check_folder(tmp_path / "rep")
    _meshsim(
        "sweep",
        mm1,
        "--grid",
        "workload.generator.rate_rps=100,200",
        "--set",
        "workload.duration_s=1.5",
        "--set",
        "workload.warmup_s=0.2",
        "--replications",
        "1",
        "--workers",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "s"),
    )
    assert _check_folder(tmp_path / "s") == ["results.csv"]
    val = _meshsim(
        "validate",
        str(LOCAL_PROFILE),
        str(LOCAL),
        "--select",
        "mode == 'none' and requested_qps == 250",
        "--duration",
        "1.5",
        "--quiet",
        "--json",
        "--out",
        str(tmp_path / "v"),
    )
    assert _check_folder(tmp_path / "v") == ["validation.csv"]
    assert "mape_pct" in json.loads(val.stdout)  # --json: only the summary on stdout


@pytest.mark.slow
def test_json_flag_prints_only_json(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _meshsim(
        "run",
        str(SCENARIOS / "mm1.yaml"),
        "--set",
        "workload.duration_s=1.5",
        "--set",
        "workload.warmup_s=0.2",
        "--replications",
        "2",
        "--quiet",
        "--json",
        "--out",
        str(out),
    )
    doc = json.loads(proc.stdout)  # nothing else on stdout
    assert (
        doc["provenance"]["seed"]
        == json.loads((out / "summary.json").read_text())["provenance"]["seed"]
    )
    assert "wrote" in proc.stderr
    cmp = _meshsim(
        "compare",
        str(SCENARIOS / "mm1.yaml"),
        "--set",
        "workload.duration_s=1.5",
        "--set",
        "workload.warmup_s=0.2",
        "--replications",
        "2",
        "--modes",
        "none,sidecar",
        "--quiet",
        "--json",
    )
    doc = json.loads(cmp.stdout)
    added = doc["latency_added"]["modes"]["sidecar"]["p99"]
    low, high = added["ci95_ms"]
    assert low <= added["ms"] <= high
    assert doc["latency_added"]["paired_replications"] == 2
    cap = _meshsim(
        "capacity",
        str(SCENARIOS / "mm1.yaml"),
        "--slo",
        "mean<=5ms",
        "--modes",
        "none",
        "--requests-per-point",
        "500",
        "--tolerance",
        "0.2",
        "--quiet",
        "--json",
    )
    rows = json.loads(cap.stdout)["capacity"]
    assert rows[0]["mode"] == "none" and rows[0]["max_rate_rps"] > 0
    swp = _meshsim(
        "sweep",
        str(SCENARIOS / "mm1.yaml"),
        "--grid",
        "workload.generator.rate_rps=100",
        "--set",
        "workload.duration_s=1.5",
        "--set",
        "workload.warmup_s=0.2",
        "--workers",
        "1",
        "--quiet",
        "--json",
        "--out",
        str(tmp_path / "s"),
    )
    assert json.loads(swp.stdout)["rows"] == 1


def test_parquet_and_csv_of_a_sweep_carry_the_same_provenance(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    _meshsim(
        "sweep",
        str(SCENARIOS / "mm1.yaml"),
        "--grid",
        "workload.generator.rate_rps=100",
        "--set",
        "workload.duration_s=1.5",
        "--set",
        "workload.warmup_s=0.2",
        "--replications",
        "1",
        "--workers",
        "1",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    meta = pq.read_schema(tmp_path / "results.parquet").metadata
    side = json.loads((tmp_path / "provenance.json").read_text())["tables"]
    assert json.loads(meta[b"meshsim.provenance"]) == side["results.csv"]["provenance"]
    assert side["results.parquet"]["provenance"] == side["results.csv"]["provenance"]


def test_latency_added_interval_is_paired_and_narrower_than_unpaired() -> None:
    from meshsim.api import compare, load

    loaded = load(
        str(SCENARIOS / "quickstart.yaml"), ["workload.duration_s=1.5", "workload.warmup_s=0.3"]
    )
    comp = compare(loaded, ["none", "sidecar"], replications=4)
    diffs = comp.paired_differences("sidecar")["mean"]
    assert len(diffs) == 4
    mean, low, high = comp.added_intervals("sidecar")["mean"]
    table = comp.table().set_index("mode")
    assert table.loc["sidecar", "added_mean_ms"] == pytest.approx(mean)
    assert table.loc["sidecar", "added_mean_ci95_low_ms"] == low
    assert low < mean < high
    side, base = (comp.results[m].latency().loc["mean"] for m in ("sidecar", "none"))
    unpaired = (
        ((side.ci95_high_ms - side.ci95_low_ms) / 2) ** 2
        + ((base.ci95_high_ms - base.ci95_low_ms) / 2) ** 2
    ) ** 0.5
    assert (high - low) / 2 < unpaired  # common random numbers cancel most of the noise


def test_capacity_across_seeds_gives_an_interval_and_says_when_tolerance_is_too_fine() -> None:
    from meshsim.api import capacity, load

    loaded = load(str(SCENARIOS / "mm1.yaml"))
    table, _ = capacity(
        loaded, "mean<=5ms", ["none"], seeds=3, requests_per_point=500, rel_tol=0.01
    )
    row = table.iloc[0]
    answers = [float(a) for a in row["max_rate_seeds_rps"].split()]
    assert len(answers) == 3 and answers[0] == pytest.approx(row["max_rate_rps"], rel=1e-5)
    assert row["max_rate_ci95_low_rps"] <= row["max_rate_mean_rps"] <= row["max_rate_ci95_high_rps"]
    spread = row["seed_spread_pct"]
    assert spread > 0  # different seeds do move the answer
    assert ("exceeds the search tolerance" in row["precision"]) == (spread > 1.0)
