"""istio/tools benchmark.csv with the minimal columns: a qps sweep stays one point per rate."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest

from meshsim.measurements import load_measurements
from real_bench.cli import main
from real_bench.importers import load_file, request_from_label

COLUMNS = ["StartTime", "ActualDuration", "Labels", "NumThreads", "ActualQPS", "p50", "p90", "p99"]
RATES = [10, 50, 100, 500, 1000, 2000, 3000]


def _row(qps: float, mode: str, minute: int, connections: int = 16, **extra: object) -> dict:
    """A run whose latency falls with the rate, as in the held-out Istio data."""
    p50 = 900 - 80 * math.log10(qps if qps else 4000)
    return {
        "StartTime": f"2024-05-01T10:{minute:02d}:00Z",
        "ActualDuration": 240,
        "Labels": f"0a1b2c3d_qps_{qps or 'max'}_c_{connections}_1024_{mode}",
        "NumThreads": connections,
        "ActualQPS": qps or 3900,
        "p50": round(p50),
        "p90": round(p50 * 1.6),
        "p99": round(p50 * 3),
        **extra,
    }


def _write(path: Path, rows: list[dict], columns: list[str] = COLUMNS) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _sweep(tmp_path: Path) -> Path:
    rows = [
        _row(q, mode, i)
        for i, (q, mode) in enumerate((q, m) for m in ("both", "base") for q in RATES)
    ]
    return _write(tmp_path / "benchmark.csv", rows)


def test_label_says_what_was_requested() -> None:
    assert request_from_label("0a1b2c3d_qps_1000_c_16_1024_both") == {
        "qps": 1000.0,
        "connections": 16,
        "payload_bytes": 1024,
    }
    assert request_from_label("x_qps_max_c_4_both")["qps"] is None
    assert request_from_label("none-250-r0") == {}


def test_minimal_columns_import_with_the_rate_from_the_label(tmp_path: Path) -> None:
    records = load_file(_sweep(tmp_path))
    assert [r.requested_qps for r in records] == [float(q) for q in RATES] * 2
    assert {r.mode for r in records} == {"sidecar", "none"}
    first = records[0]
    assert first.connections == 16 and first.payload_bytes == 1024
    assert math.isnan(first.latency.p75_us) and math.isnan(first.latency.p999_us)
    assert first.latency.p50_us == 820 and all(r.validity.valid for r in records)


def test_import_cli_writes_one_row_per_run(tmp_path: Path) -> None:
    out = tmp_path / "table.csv"
    assert main(["import", str(_sweep(tmp_path)), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 2 * len(RATES)
    assert sorted(table["requested_qps"].unique()) == RATES


def test_qps_sweep_stays_one_point_per_requested_rate(tmp_path: Path) -> None:
    points = load_measurements([_sweep(tmp_path)])
    assert len(points) == 2 * len(RATES)
    for mode in ("sidecar", "none"):
        rates = points.loc[points["mode"] == mode, "requested_qps"]
        assert sorted(rates) == RATES
    assert (points["repetitions"] == 1).all()
    # latency falls with the rate in these runs, and the points keep it
    sidecar = points[points["mode"] == "sidecar"].sort_values("requested_qps")
    assert sidecar["p50"].is_monotonic_decreasing and sidecar["p50"].nunique() == len(RATES)


def test_repetitions_merge_but_other_requests_do_not(tmp_path: Path) -> None:
    rows = [
        _row(1000, "both", 0),
        _row(1000, "both", 5),  # the same label again: a repetition, not a duplicate
        _row(1000, "both", 10, connections=64),
        _row(0, "both", 15),  # max rate
        _row(1000, "serveronly", 20),
    ]
    path = _write(tmp_path / "benchmark.csv", rows, [*COLUMNS, "p75", "p999"])
    points = load_measurements([path]).set_index("point")
    assert points["repetitions"].to_dict() == {
        "0a1b2c3d:sidecar-both:c16:q1000": 2,
        "0a1b2c3d:sidecar-both:c64:q1000": 1,
        "0a1b2c3d:sidecar-both:c16:qmax": 1,
        "0a1b2c3d:sidecar-server-only:c16:q1000": 1,
    }


def test_requested_qps_column_wins_over_the_label(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "benchmark.csv",
        [_row(1000, "both", 0, RequestedQPS="max"), _row(500, "both", 1, RequestedQPS=500)],
        [*COLUMNS, "RequestedQPS"],
    )
    assert [r.requested_qps for r in load_file(path)] == [None, 500.0]


@pytest.mark.parametrize("missing", ["p90", "ActualQPS"])
def test_a_required_column_missing_is_one_line_naming_it(tmp_path: Path, missing: str) -> None:
    columns = [c for c in COLUMNS if c != missing]
    path = _write(tmp_path / "benchmark.csv", [_row(100, "both", 0)], columns)
    out = tmp_path / "table.csv"
    assert main(["import", str(path), "--out", str(out)]) == 2
    assert not out.exists()
