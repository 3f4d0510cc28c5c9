"""Small, valid measurement files and profiles written by tests, so tests that break them on
purpose need nothing outside the repository."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "scenarios" / "calibration" / "istio-1.2-gke.yaml"
CAMPAIGN = "0badf00d"


def fortio_doc(connections: int = 16, variant: str = "both", qps: float = 1000.0) -> dict:
    """A fortio ``load -json`` result: 4 s at ``qps``, two histogram buckets, all 200s."""
    n = round(qps * 4)
    label = f"{CAMPAIGN}_qps_{qps:g}_c_{connections}_1024_{variant}"
    return {
        "RunType": "HTTP",
        "Labels": label,
        "StartTime": "2026-01-01T00:00:00Z",
        "RequestedQPS": f"{qps:g}",
        "RequestedDuration": "4s",
        "ActualQPS": qps,
        "ActualDuration": 4_000_000_000,
        "NumThreads": connections,
        "Version": "1.3.1",
        "DurationHistogram": {
            "Count": n,
            "Min": 0.001,
            "Max": 0.009,
            "Sum": n * 0.004,
            "Avg": 0.004,
            "StdDev": 0.001,
            "Data": [
                {"Start": 0.001, "End": 0.004, "Percent": 50.0, "Count": n // 2},
                {"Start": 0.004, "End": 0.009, "Percent": 100.0, "Count": n - n // 2},
            ],
            "Percentiles": [
                {"Percentile": p, "Value": v}
                for p, v in ((50, 0.004), (75, 0.0065), (90, 0.008), (99, 0.0089), (99.9, 0.009))
            ],
        },
        "RetCodes": {"200": n},
        "Sizes": {"Avg": 1224.0},
        "HeaderSizes": {"Avg": 200.0},
    }


def istio_tools_row(connections: int = 16, variant: str = "both") -> dict[str, Any]:
    """One istio/tools compiled record (the CSV/JSON-lines form), CPU from Prometheus."""
    return {
        "Labels": f"{CAMPAIGN}_qps_1000_c_{connections}_1024_{variant}",
        "RequestedQPS": "1000",
        "ActualQPS": 1000.0,
        "ActualDuration": 240,
        "NumThreads": connections,
        "errorPercent": 0,
        "min": 900,
        "max": 20000,
        "p50": 4000,
        "p75": 5000,
        "p90": 6000,
        "p99": 9000,
        "p999": 12000,
        "cpu_mili_avg_fortioserver_deployment_istio_proxy": 400.0,
    }


def write_measurements(folder: Path) -> list[Path]:
    """Four valid fortio files: sidecar both/base at 16 and 64 connections."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for connections in (16, 64):
        for variant in ("both", "base"):
            path = folder / f"run_c{connections}_{variant}.json"
            path.write_text(json.dumps(fortio_doc(connections, variant)))
            paths.append(path)
    return paths


def profile_doc(**calibration: Any) -> dict[str, Any]:
    """The built-in published profile with a ``calibration`` section (a fitted profile)."""
    text = (resources.files("meshsim") / "profile_data" / "istio-1.24-published.yaml").read_text()
    doc = yaml.safe_load(text)
    doc["calibration"] = {"template": str(TEMPLATE), **calibration}
    return doc


def write_profile(path: Path, **calibration: Any) -> Path:
    path.write_text(yaml.safe_dump(profile_doc(**calibration), sort_keys=False))
    return path
