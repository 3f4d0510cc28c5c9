"""Published resource measurements: proxy CPU and memory against load, as measurement points.

Two kinds of CSV (``data/ambient/``, PROVENANCE.md there), each with ``#`` header lines:

- the Buoyant 2025 runs: one row per 300 s run of the Faces demo, CPU (millicores) and memory
  (MiB) per component kind, at a requested total rate. ``resource_points`` makes them points
  like ``measurements.load_measurements`` returns: no latency, proxy CPU per kind (median of
  the runs, with their spread), memory beside it. Ambient rows become ``waypoint``-mode points
  (ztunnel and waypoint CPU); Linkerd rows become ``linkerd``-mode points (``cpu_linkerd``:
  every linkerd-proxy, the load generator's included, as the data-plane column measures them).
- Istio's per-1000-rps figures: per-proxy costs, not a measured scenario, so they are read as
  figures (``read_istio_docs``) to compare a fitted profile with, never as points.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from meshsim.domain import MEASURED_LATENCY as LATENCY
from meshsim.errors import ScenarioError
from meshsim.safe_yaml import read_text

MAX_BYTES = 5_000_000  # both files are a few KiB; refuse anything that is clearly not them
BUOYANT = "buoyant-2025"
WRK2_CONNECTIONS = 3 * 200  # three wrk2 jobs of 200 keep-alive connections (their README)
# our column <- theirs, per run (CPU in millicores, memory in MiB, as the file gives them)
BUOYANT_COLUMNS = {
    "cpu_ztunnel": "ztunnel_mesh_CPU_mcores",
    "mem_ztunnel": "ztunnel_mesh_mem_MiB",
    "cpu_waypoint": "waypoint_mesh_CPU_mcores",
    "mem_waypoint": "waypoint_mesh_mem_MiB",
    "cpu_data_plane": "data_plane_CPU_mcores",
    "mem_data_plane": "data_plane_mem_MiB",
    "cpu_load_proxy": "wrk2_mesh_CPU_mcores",
    "cpu_app": "faces_CPU_mcores",
    "cpu_face_app": "face_app_CPU_mcores",
    "cpu_load": "load_CPU_mcores",
}
RESOURCES = (
    "cpu_sidecar_client",  # no Istio sidecar run in these data: empty columns
    "cpu_sidecar_server",
    "cpu_linkerd",
    "cpu_ztunnel",
    "cpu_waypoint",
    "mem_ztunnel",
    "mem_waypoint",
    "mem_data_plane",
    "mem_linkerd",
    "cpu_app",
    "cpu_face_app",
    "cpu_load",
)


def _read(path: Path, required: set[str]) -> tuple[pd.DataFrame, int]:
    """The table of a ``#``-headed CSV and the file line of its header row."""
    lines = read_text(path, MAX_BYTES).splitlines()
    header = next((i for i, line in enumerate(lines) if not line.startswith("#")), None)
    if header is None:
        raise ScenarioError("no header row", str(path))
    frame = pd.read_csv(io.StringIO("\n".join(lines[header:])), dtype=str, keep_default_na=False)
    missing = sorted(required - set(frame.columns))
    if missing:
        raise ScenarioError("missing column", str(path), header + 1, missing[0])
    return frame, header + 1


def _numbers(frame: pd.DataFrame, column: str, path: Path, header_line: int) -> pd.Series:
    """A column as floats (empty = not measured); a bad cell names its line and field."""
    text = frame[column].str.strip()
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna() & (text != "")
    if bad.any():
        line = header_line + 1 + int(np.flatnonzero(bad.to_numpy())[0])
        raise ScenarioError("not a number", str(path), line, column)
    if (values < 0).any():
        line = header_line + 1 + int(np.flatnonzero((values < 0).to_numpy())[0])
        raise ScenarioError("negative", str(path), line, column)
    return values.astype(float)


def is_buoyant(path: str | Path) -> bool:
    """Whether a file is the Buoyant resource table (by its header row)."""
    return _header_has(path, {"target_rps_total", "ztunnel_mesh_CPU_mcores"})


def is_istio_docs(path: str | Path) -> bool:
    return _header_has(path, {"istio_version", "component", "metric", "condition"})


def _header_has(path: str | Path, columns: set[str]) -> bool:
    path = Path(path)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open(encoding="utf-8", errors="replace") as handle:
        for _, line in zip(range(200), handle, strict=False):
            if not line.startswith("#"):
                return columns <= {c.strip() for c in line.split(",")}
    return False


def read_buoyant(path: str | Path) -> pd.DataFrame:
    """One row per run: sequence, meshsim mode, requested rate (requests/s, all generators),
    run, and CPU (millicores) / memory (MiB) per component kind as named in BUOYANT_COLUMNS;
    for Linkerd also every linkerd-proxy together (``cpu_linkerd``, ``mem_linkerd``)."""
    path = Path(path)
    keys = {"sequence", "mesh", "target_rps_total", "run", "source_file"}
    frame, header = _read(path, keys | set(BUOYANT_COLUMNS.values()))
    out = pd.DataFrame(
        {
            "sequence": frame["sequence"].str.strip(),
            "mesh": frame["mesh"].str.strip(),
            "requested_qps": _numbers(frame, "target_rps_total", path, header),
            "run": _numbers(frame, "run", path, header).astype(int),
            "source_file": frame["source_file"],
            "line": range(header + 1, header + 1 + len(frame)),
        }
    )
    for ours, theirs in BUOYANT_COLUMNS.items():
        out[ours] = _numbers(frame, theirs, path, header)
    ambient = out["mesh"].str.contains("ambient")
    linkerd = out["mesh"].str.contains("linkerd")
    unknown = ~(ambient | linkerd)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise ScenarioError(
            "mesh is neither ambient nor linkerd", str(path), header + 1 + row, "mesh"
        )
    out["mode"] = np.where(ambient, "waypoint", "linkerd")
    out["cpu_sidecar_client"] = out["cpu_sidecar_server"] = np.nan
    out["cpu_linkerd"] = out["cpu_data_plane"].where(linkerd)
    out["mem_linkerd"] = out["mem_data_plane"].where(linkerd)
    for column in ("cpu_ztunnel", "cpu_waypoint", "mem_ztunnel", "mem_waypoint"):
        out[column] = out[column].where(ambient)
    return out


def resource_points(path: str | Path) -> pd.DataFrame:
    """The runs as measurement points, one per (sequence, requested rate): median of the runs
    per resource column, ``<column>_spread`` = (max - min) / median; no latency."""
    runs = read_buoyant(path)
    rows = []
    for (sequence, qps), group in runs.groupby(["sequence", "requested_qps"], sort=True):
        first = group.iloc[0]
        row: dict[str, object] = {
            "campaign": f"{BUOYANT}-{sequence}",
            "mode": first["mode"],
            "variant": "",
            "connections": WRK2_CONNECTIONS,
            "requested_qps": float(qps),
            "payload_bytes": np.nan,  # Faces' own responses; the template sets the sizes
            "backend": BUOYANT,
            "run_label": f"{sequence}/{qps:g}",
            "source": "published-csv",
            "source_file": Path(path).name,
            "open_loop": True,
            "repetitions": len(group),
            "achieved_qps": np.nan,
        }
        for q in LATENCY:
            row[q] = np.nan
        for column in RESOURCES:
            values = group[column].dropna()
            row[column] = float(values.median()) if len(values) else np.nan
            if len(values) > 1 and row[column]:
                row[f"{column}_spread"] = float((values.max() - values.min()) / row[column])
        rows.append(row)
    points = pd.DataFrame(rows)
    ids = [
        f"{r.campaign}:{r.mode}{'-' + r.variant if r.variant else ''}:c{r.connections}"
        f":q{r.requested_qps:g}"
        for r in points.itertuples()
    ]
    points.insert(0, "point", ids)
    return points


def read_istio_docs(path: str | Path) -> pd.DataFrame:
    """Istio's per-proxy figures: one row each, with the proxy kind (sidecar, waypoint,
    ztunnel) and the value in meshsim's units (CPU millicores per 1000 requests/s, memory MiB
    from the page's MB, i.e. 10^6 bytes; latency ms)."""
    path = Path(path)
    frame, header = _read(path, {"istio_version", "component", "metric", "value", "unit"})
    value = _numbers(frame, "value", path, header)
    unit = frame["unit"].str.strip()
    factor = unit.map({"vCPU": 1000.0, "MB": 1e6 / 2**20, "ms": 1.0})
    if factor.isna().any():
        row = int(np.flatnonzero(factor.isna().to_numpy())[0])
        raise ScenarioError(f"unknown unit {unit.iloc[row]!r}", str(path), header + 1 + row, "unit")
    component = frame["component"].str.lower()
    kind = np.select(
        [component.str.contains("waypoint"), component.str.contains("ztunnel")],
        ["waypoint", "ztunnel"],
        "sidecar",
    )
    return pd.DataFrame(
        {
            "istio_version": frame["istio_version"],
            "component": frame["component"],
            "kind": kind,
            "metric": frame["metric"],
            "value": value * factor,
            "unit": unit.map({"vCPU": "millicores", "MB": "MiB", "ms": "ms"}),
            "published_value": value,
            "published_unit": unit,
            "condition": frame.get("condition", ""),
            "line": range(header + 1, header + 1 + len(frame)),
        }
    )
