"""The run record: validity verdict, flattening, JSON Schema independent of meshsim."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from real_bench.record import (
    RunRecord,
    judge,
    latency_from_samples,
    percentile_nearest_rank,
)


def _record(**kw: object) -> RunRecord:
    lat, hist = latency_from_samples([100.0 + i for i in range(5000)])
    base = dict(run_id="r", source="test", backend="local", mode="sidecar", achieved_qps=1000.0,
                requested_qps=1000.0, connections=16, duration_s=5.0, load_generator="t",
                open_loop=True, latency=lat, histogram=hist,
                validity=judge(1000.0, 1000.0, 5000, 0),
                components=[{"name": "sidecar_client", "role": "sidecar", "program": "haproxy",
                             "cpu_millicores": 120.0, "mem_mib": 20.0},
                            {"name": "sidecar_server", "role": "sidecar", "program": "haproxy",
                             "cpu_millicores": 80.0, "mem_mib": 21.0}])
    base.update(kw)
    return RunRecord.model_validate(base)


@pytest.mark.parametrize(("achieved", "ok"), [(1000, True), (980.5, True), (1019.9, True),
                                              (979.9, False), (1021, False), (742, False)])
def test_qps_within_two_percent(achieved: float, ok: bool) -> None:
    assert judge(1000, achieved, 10_000, 0).valid is ok


def test_errors_and_samples() -> None:
    v = judge(1000, 1000, 10_000, 50)
    assert not v.valid and "error ratio" in v.reasons[0]
    v = judge(1000, 1000, 100, 0)
    assert not v.valid and "samples" in v.reasons[0]
    v = judge(None, 5000, 10_000, 0)  # "max" qps: no rate check
    assert v.valid and v.qps_ratio is None


def test_percentiles_exact_on_samples() -> None:
    vals = list(range(1, 1001))
    assert percentile_nearest_rank(vals, 50) == 500
    assert percentile_nearest_rank(vals, 99.9) == 999
    lat, hist = latency_from_samples([float(v) for v in vals])
    assert (lat.p50_us, lat.p99_us, lat.max_us, lat.count) == (500, 990, 1000, 1000)
    assert sum(b.count for b in hist) == 1000


def test_row_is_flat_and_one_per_run() -> None:
    row = _record().to_row()
    assert all(not isinstance(v, (dict, list)) for v in row.values())
    assert row["cpu_mcores_sidecar_client"] == 120.0
    assert row["proxy_cpu_mcores_total"] == 200.0
    assert row["latency_p999_us"] > row["latency_p99_us"] > row["latency_p50_us"]
    assert json.loads(row["histogram_us"])


def test_jsonl_roundtrip() -> None:
    rec = _record()
    assert RunRecord.model_validate_json(rec.model_dump_json()) == rec


def test_unknown_field_rejected() -> None:
    with pytest.raises(ValueError):
        _record(surprise=1)


def test_schema_does_not_import_meshsim() -> None:
    code = ("import sys, json; from real_bench.record import json_schema; s = json_schema(); "
            "assert not [m for m in sys.modules if m.split('.')[0] == 'meshsim']; "
            "print(json.dumps(sorted(s['properties'])))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    props = json.loads(out)
    for key in ("backend", "mode", "requested_qps", "achieved_qps", "connections", "latency",
                "histogram", "errors", "components", "host", "tool_versions", "validity",
                "placement", "payload_bytes", "warmup_s", "duration_s"):
        assert key in props


def test_committed_schema_is_current() -> None:
    from pathlib import Path

    from real_bench.record import json_schema

    path = Path(__file__).resolve().parents[1] / "real_bench" / "run-record.schema.json"
    assert json.loads(path.read_text()) == json_schema(), f"run: real-bench schema --out {path}"
