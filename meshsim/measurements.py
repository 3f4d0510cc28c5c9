"""Measured load points, read through real_bench's importers, and the scenario each one is.

A *point* is one measured configuration (topology, mode, path variant, connections, rate,
payload):
repetitions of it are merged (median, with their spread kept), and records of the same run from
two sources (a fortio JSON with the latency histogram, an istio/tools record with the proxies'
CPU) are joined by their run label. Neither step ever merges records that differ in what was
requested (``KEYS``; a max-rate run is its own point), and two records of one source with the
same label are two runs, not one. ``scenario_for`` turns a point into the scenario that
reproduces it from a calibration template.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from meshsim import selectors
from meshsim.domain import CLIENT, MEASURED_LATENCY, Kind, component_name
from meshsim.errors import ScenarioError
from meshsim.loader import LoadedScenario

LATENCY = MEASURED_LATENCY
CPU = ("cpu_sidecar_client", "cpu_sidecar_server", "cpu_ztunnel", "cpu_waypoint", "cpu_linkerd")
METRICS = LATENCY + CPU
SINGLE_HOP = "single-hop"
KEYS = ["campaign", "topology", "mode", "variant", "connections", "requested_qps", "payload_bytes"]
JOIN = ["run_label", "mode", "variant", "connections", "requested_qps", "occurrence"]


def proxy_cpu_metrics(vcpu: Mapping[str, float], kind_of: Mapping[str, str]) -> dict[str, float]:
    """Predicted proxy CPU in the measurements' terms (millicores): the client's sidecar, the
    other sidecars, every ztunnel, every waypoint; NaN where the mode has none. ``vcpu`` is
    per component name, ``kind_of`` its kind (meshsim.domain.Kind)."""
    client = component_name(CLIENT, Kind.SIDECAR)
    by_kind: dict[str, list[float]] = {}
    for name, cores in vcpu.items():
        kind = "sidecar_client" if name == client else kind_of[name]
        by_kind.setdefault(kind, []).append(cores * 1000)
    out = {}
    for metric, kind in (
        ("cpu_sidecar_client", "sidecar_client"),
        ("cpu_sidecar_server", Kind.SIDECAR),
        ("cpu_ztunnel", Kind.ZTUNNEL),
        ("cpu_waypoint", Kind.WAYPOINT),
        ("cpu_linkerd", Kind.LINKERD_PROXY),  # every linkerd-proxy, as measured
    ):
        values = by_kind.get(kind)
        out[metric] = float(sum(values)) if values else math.nan
    return out


def load_measurements(paths: Iterable[str | Path], include_invalid: bool = False) -> pd.DataFrame:
    """One row per measured configuration: latency in ms, proxy CPU in millicores."""
    return load_points(paths, include_invalid)[0]


def load_points(
    paths: Iterable[str | Path], include_invalid: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(points, dropped): the measured configurations, and one row per run left out of them
    (``point``, ``run_label``, ``source_file``, ``reason``), so that nothing is dropped
    silently. Published resource tables (``meshsim.published``) are read beside real_bench's
    formats."""
    from meshsim.published import is_buoyant, is_istio_docs, resource_points

    paths = [Path(p) for p in paths]
    for path in paths:
        if is_istio_docs(path):
            raise ScenarioError(
                "per-proxy figures per 1000 requests/s, not measured runs of a scenario "
                "(read them with meshsim.published.read_istio_docs)",
                str(path),
            )
    published = [p for p in paths if is_buoyant(p)]
    others = [p for p in paths if p not in published]
    frames = [resource_points(p) for p in published]
    dropped = pd.DataFrame(columns=[*DROPPED, *KEYS])
    if others:
        raw, dropped = _load_runs(others, include_invalid)
        frames.append(_merge_repetitions(raw))
    if not frames:
        raise ScenarioError("no measurements in the files given")
    return pd.concat(frames, ignore_index=True), dropped


DROPPED = ["point", "run_label", "source_file", "reason"]


def _load_runs(paths: list[Path], include_invalid: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    from real_bench.errors import BenchError
    from real_bench.importers import load_files, to_frame

    paths = [Path(p) for p in paths]
    try:
        records = load_files(paths)
    except BenchError as exc:
        raise ScenarioError(str(exc)) from None
    if not records:
        raise ScenarioError("no measurements in the files given")
    frame = to_frame(records)
    # real_bench local's call graph (``extra.topology``): a 3-tier run is not a single-hop one
    frame["topology"] = [str(r.extra.get("topology") or SINGLE_HOP) for r in records]
    raw = _normalise(frame)
    raw = _join_sources(raw)
    invalid = raw[~raw["valid"]]
    dropped = pd.DataFrame(
        {
            "point": [_point_id(r) for _, r in invalid.iterrows()],
            "run_label": invalid["run_label"],
            "source_file": invalid["source_file"],
            "reason": "invalid run: " + invalid["invalid_reasons"].astype(str),
            **{key: invalid[key] for key in KEYS},
        }
    ).reset_index(drop=True)
    if include_invalid:
        dropped = dropped.iloc[0:0]
    else:
        raw = raw[raw["valid"]]
        if raw.empty:
            names = ", ".join(p.name for p in paths[:3]) + (", ..." if len(paths) > 3 else "")
            raise ScenarioError(f"{len(records)} records, none valid", names)
    return raw, dropped


def _normalise(frame: pd.DataFrame) -> pd.DataFrame:
    labels = frame["label"].fillna(frame["run_id"]).astype(str)
    out = pd.DataFrame(
        {
            "run_label": labels,
            "campaign": [
                _campaign(label, backend, topology)
                for label, backend, topology in zip(
                    labels, frame["backend"], frame["topology"], strict=True
                )
            ],
            "topology": frame["topology"],
            "source": frame["source"],
            "source_file": frame["source_file"].map(lambda p: Path(str(p)).name),
            "backend": frame["backend"],
            "mode": frame["mode"],
            "variant": frame["mode_variant"].fillna("").map(_variant),
            "connections": frame["connections"].astype(int),
            "requested_qps": frame["requested_qps"],
            "achieved_qps": frame["achieved_qps"],
            "payload_bytes": frame["payload_bytes"].fillna(1024).astype(int),
            "open_loop": frame["open_loop"],
            "valid": frame["valid"].astype(bool),
            "invalid_reasons": frame["invalid_reasons"].fillna("").map(_reasons),
            "has_histogram": frame["histogram_us"].str.len() > 2,
        }
    )
    for q in LATENCY:
        out[q] = frame[f"latency_{q}_us"] / 1e3
    cpu = lambda prefix: frame[[c for c in frame.columns if c.startswith(prefix)]]  # noqa: E731
    out["cpu_sidecar_client"] = frame.get("cpu_mcores_sidecar_client")
    # every sidecar but the client's serves a call: one per pod on a multi-hop path
    servers = cpu("cpu_mcores_sidecar_").drop(
        columns=["cpu_mcores_sidecar_client"], errors="ignore"
    )
    out["cpu_sidecar_server"] = servers.sum(axis=1, min_count=1) if servers.shape[1] else np.nan
    ztunnels = cpu("cpu_mcores_ztunnel")
    out["cpu_ztunnel"] = ztunnels.sum(axis=1, min_count=1) if ztunnels.shape[1] else np.nan
    waypoints = cpu("cpu_mcores_waypoint")
    out["cpu_waypoint"] = waypoints.sum(axis=1, min_count=1) if waypoints.shape[1] else np.nan
    # a proxy that is not on the path (2 mcores of idle Envoy) is not a measurement of it
    out.loc[out["variant"] == "server-only", "cpu_sidecar_client"] = np.nan
    out.loc[out["mode"] == "none", list(CPU)] = np.nan
    return out


def _reasons(value: object) -> str:
    return "; ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def _variant(text: str) -> str:
    text = text.lower()
    if "server" in text:
        return "server-only"
    return "both" if text.startswith("both") else ""


def _campaign(label: str, backend: str, topology: str = SINGLE_HOP) -> str:
    """Runs that share a platform and a call graph: istio/tools' run id (plus its no-Mixer
    flag), or the backend for real_bench's own runs (plus the topology if not single-hop)."""
    match = re.match(r"^([0-9a-f]{8})_", label)
    if not match:
        return backend if topology == SINGLE_HOP else f"{backend}-{topology}"
    return match.group(1) + ("-nomixer" if "nomixer" in label else "")


def _join_sources(raw: pd.DataFrame) -> pd.DataFrame:
    """Records of one run from two sources: latency from the one with a histogram, CPU from
    whichever measured it."""
    raw = raw.assign(occurrence=raw.groupby(["run_label", "source"], sort=False).cumcount())
    rows = []
    for _, group in raw.groupby(JOIN, sort=False, dropna=False):
        group = group.sort_values("has_histogram", ascending=False, kind="stable")
        row = group.iloc[0].copy()
        for col in CPU:
            values = group[col].dropna()
            if len(values):
                row[col] = values.iloc[0]
        row["source"] = "+".join(sorted(set(group["source"])))
        row["source_file"] = ",".join(sorted(set(group["source_file"])))
        rows.append(row.drop("occurrence"))
    return pd.DataFrame(rows).reset_index(drop=True)


def _merge_repetitions(raw: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, group in raw.groupby(KEYS, sort=False, dropna=False):
        row = group.iloc[0][
            [*KEYS, "backend", "run_label", "source", "source_file", "open_loop"]
        ].copy()
        row["repetitions"] = len(group)
        row["achieved_qps"] = group["achieved_qps"].median()
        for metric in METRICS:
            values = group[metric].dropna()
            row[metric] = values.median() if len(values) else np.nan
            if metric in LATENCY and len(values) > 1:
                row[f"{metric}_spread"] = (values.max() - values.min()) / values.median()
        rows.append(row)
    points = pd.DataFrame(rows).reset_index(drop=True)
    points.insert(0, "point", [_point_id(r) for _, r in points.iterrows()])
    return points


def _point_id(row: pd.Series) -> str:
    variant = f"-{row['variant']}" if row["variant"] else ""
    qps = "max" if pd.isna(row["requested_qps"]) else f"{row['requested_qps']:g}"
    return f"{row['campaign']}:{row['mode']}{variant}:c{row['connections']}:q{qps}"


def select(
    points: pd.DataFrame, selector: str | None, file: str = "", field: str = "selector"
) -> pd.DataFrame:
    """Rows a selector keeps, e.g. ``connections == 16`` or ``requested_qps in [250, 2000]``
    (meshsim.selectors' grammar: parsed, never run as code). Errors name ``file``/``field``."""
    if not selector:
        return points
    try:
        return selectors.select(points, selector)
    except selectors.SelectorError as exc:
        raise ScenarioError(str(exc), file, None, field) from None


def scenario_for(
    template: LoadedScenario, point: pd.Series, duration_s: float, replications: int = 1
) -> LoadedScenario:
    """The template, set to a point's mode, path, load and payload."""
    sc = template.scenario
    entry = sc.workload.entry
    mode = point["mode"]
    changes = [
        f"mesh.mode={mode}",
        f"workload.client.in_mesh={str(point['variant'] != 'server-only').lower()}",
        f"workload.duration_s={duration_s:g}",
        f"sim.replications={replications}",
    ]
    if not pd.isna(point.get("payload_bytes")):  # published resource points: the template's
        changes.append(f"services.{entry}.response_kib={point['payload_bytes'] / 1024:g}")
    gen = sc.workload.generator
    if gen.type == "fortio":
        qps = "null" if pd.isna(point["requested_qps"]) else f"{point['requested_qps']:g}"
        changes += [
            f"workload.generator.qps={qps}",
            f"workload.generator.connections={int(point['connections'])}",
        ]
    else:
        changes.append(f"workload.generator.rate_rps={point['requested_qps']:g}")
    return template.with_changes(*changes)
