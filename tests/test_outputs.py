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
    _meshsim(
        "validate",
        str(LOCAL_PROFILE),
        str(LOCAL),
        "--select",
        "mode == 'none' and requested_qps == 250",
        "--duration",
        "1.5",
        "--quiet",
        "--out",
        str(tmp_path / "v"),
    )
    assert _check_folder(tmp_path / "v") == ["validation.csv"]


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
