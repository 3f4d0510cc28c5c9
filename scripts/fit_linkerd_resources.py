"""Fit linkerd-proxy CPU and memory against load from Buoyant's 2025 benchmark runs.

Why: meshsim's Linkerd profile needs CPU per proxy traversal and memory per proxy with
provenance. The only public raw Linkerd measurements are Buoyant's "Great Sidecar Debate" runs
(shared fixture `fixtures/ambient/buoyant-2025-resources.csv`, one row per 300 s run). This
script turns them into per-request, per-traversal and per-proxy figures, and says how well a
straight line predicts load levels it was not fitted on.

Topology of those runs (README of BuoyantIO/great-sidecar-debate @8d032db and the Faces app
source, BuoyantIO/faces-demo pkg/faces/face_provider.go): wrk2 (3 pods, meshed) -> face (HTTP/1.1)
-> smiley (HTTP/1.1) and color (gRPC), in parallel, once each per request; 3 replicas of each,
one per node. Per user request the linkerd proxies handle:

    wrk2 proxy   1 traversal  (outbound, app HTTP/1.1 keep-alive -> HTTP/2 + mTLS)
    face proxy   3 traversals (inbound from wrk2; outbound to smiley; outbound to color, where
                               the face app opens a new plaintext gRPC connection per request)
    smiley proxy 1 traversal  (inbound, mTLS -> HTTP/1.1 to the app)
    color proxy  1 traversal  (inbound, mTLS -> gRPC to the app)

A traversal is one request and its response through one proxy (2 messages). Three meshed hops
per request, each with mTLS at both ends. 27 proxies in all: the 12 above plus 15 that carry
no traffic (faces-gui, smiley2, smiley3, color2, color3; 3 each).

Usage:  python scripts/fit_linkerd_resources.py [CSV] [--out docs/linkerd-fit.md]
Output is deterministic (closed-form least squares; no randomness).
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

DEFAULT_CSV = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "fixtures"
    / "ambient"
    / "buoyant-2025-resources.csv"
)
MESH = "linkerd-edge-25.4.1"
FIT_LOADS = (60, 240, 1200)
HOLDOUT_LOADS = (120, 600)

# Traversals per user request and proxies per group (see module docstring).
TRAVERSALS = {"wrk2_mesh": 1, "face_mesh": 3, "smiley_mesh": 1, "color_mesh": 1}
PROXIES = {"wrk2_mesh": 3, "face_mesh": 3, "smiley_mesh": 3, "color_mesh": 3}
IDLE_PROXIES = 15
ALL_PROXIES = 27

CPU_SERIES = {
    "data_plane": "data_plane_CPU_mcores",
    "wrk2_mesh": "wrk2_mesh_CPU_mcores",
    "face_mesh": "face_mesh_CPU_mcores",
    "smiley_mesh": "smiley_mesh_CPU_mcores",
    "color_mesh": "color_mesh_CPU_mcores",
}
MEM_SERIES = {
    "data_plane": "data_plane_mem_MiB",
    "wrk2_mesh": "wrk2_mesh_mem_MiB",
    "face_mesh": "face_mesh_mem_MiB",
}
NUMERIC = ["target_rps_total", *CPU_SERIES.values(), *MEM_SERIES.values()]

# Istio ambient runs of the same harness, for a like-for-like comparison per traversal. With a
# waypoint on every hop, each of the 3 hops crosses 2 ztunnel traversals (source and destination
# node, one process when they share a node) and 1 waypoint traversal.
AMBIENT_MESH = "istio-ambient-1.25.0+waypoint"
AMBIENT_CPU = {"ztunnel": "ztunnel_mesh_CPU_mcores", "waypoint": "waypoint_mesh_CPU_mcores"}
AMBIENT_TRAVERSALS = {"ztunnel": 6, "waypoint": 3}
AMBIENT_NUMERIC = ["target_rps_total", *AMBIENT_CPU.values()]


class InputError(Exception):
    """Bad input: the message names file, line and field."""


@dataclass(frozen=True)
class Runs:
    """One value per Linkerd run: load (requests/s) and each measured series."""

    sequence: np.ndarray
    rps: np.ndarray
    series: dict[str, np.ndarray]


@dataclass(frozen=True)
class LineFit:
    """y = intercept + slope * rps, with standard errors and held-out errors."""

    intercept: float
    slope: float
    intercept_se: float
    slope_se: float
    holdout_mape_pct: float
    holdout_max_abs_pct: float
    lolo_pct: dict[int, float]
    quad_lolo_mape_pct: float


def _read_table(path: Path, mesh: str, columns: list[str]) -> tuple[list[str], dict]:
    """Rows of one mesh: sequences and numeric columns; errors name file, line and field."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    with path.open(newline="") as handle:
        for lineno, line in enumerate(handle, start=1):
            if line.startswith("#") or not line.strip():
                continue
            fields = next(csv.reader([line]))
            if header is None:
                header = fields
                missing = [name for name in ["sequence", "mesh", *columns] if name not in header]
                if missing:
                    raise InputError(f"{path}:{lineno}: missing column {missing[0]!r}")
                continue
            if len(fields) != len(header):
                raise InputError(f"{path}:{lineno}: expected {len(header)} fields")
            rows.append((lineno, dict(zip(header, fields, strict=True))))
            if len(rows) > 10_000:
                raise InputError(f"{path}:{lineno}: more than 10000 rows")
    if header is None:
        raise InputError(f"{path}: no header line")
    values: dict[str, list[float]] = {name: [] for name in columns}
    sequences: list[str] = []
    for lineno, row in rows:
        if row["mesh"] != mesh:
            continue
        sequences.append(row["sequence"])
        for name in columns:
            try:
                number = float(row[name])
            except ValueError:
                raise InputError(f"{path}:{lineno}: field {name!r} is not a number") from None
            if not np.isfinite(number) or number < 0:
                raise InputError(f"{path}:{lineno}: field {name!r} must be finite and >= 0")
            values[name].append(number)
    if len(sequences) < 6:
        raise InputError(f"{path}: fewer than 6 rows for mesh {mesh!r}")
    loads = {int(v) for v in values["target_rps_total"]}
    missing_loads = sorted(set(FIT_LOADS + HOLDOUT_LOADS) - loads)
    if missing_loads:
        raise InputError(f"{path}: no {mesh} run at {missing_loads[0]} requests/s")
    return sequences, {name: np.array(v) for name, v in values.items()}


def read_runs(path: Path) -> Runs:
    """The fixture's Linkerd runs, with the derived idle-proxy and other-proxy series."""
    sequences, values = _read_table(path, MESH, NUMERIC)
    series = {f"cpu:{key}": values[col] for key, col in CPU_SERIES.items()} | {
        f"mem:{key}": values[col] for key, col in MEM_SERIES.items()
    }
    cpu_active = sum(series[f"cpu:{k}"] for k in TRAVERSALS)
    series["cpu:idle_proxies"] = series["cpu:data_plane"] - cpu_active
    series["mem:other_21_proxies"] = (
        series["mem:data_plane"] - series["mem:wrk2_mesh"] - series["mem:face_mesh"]
    )
    return Runs(np.array(sequences), values["target_rps_total"], series)


def read_ambient(path: Path) -> Runs:
    """The same harness's Istio ambient + waypoint runs (ztunnel and waypoint CPU)."""
    sequences, values = _read_table(path, AMBIENT_MESH, AMBIENT_NUMERIC)
    series = {f"cpu:{key}": values[col] for key, col in AMBIENT_CPU.items()}
    return Runs(np.array(sequences), values["target_rps_total"], series)


def _fit_poly(x: np.ndarray, y: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Least squares polynomial fit; returns coefficients (low order first) and their SEs."""

    def residuals(coef: np.ndarray) -> np.ndarray:
        return np.polynomial.polynomial.polyval(x, coef) - y

    start = np.zeros(degree + 1)
    result = least_squares(residuals, start, method="lm")
    dof = max(len(y) - len(start), 1)
    sigma2 = float(result.fun @ result.fun) / dof
    cov = np.linalg.pinv(result.jac.T @ result.jac) * sigma2
    return result.x, np.sqrt(np.diag(cov))


def _pct_errors(coef: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Prediction error of each run's value, in % of the measured value."""
    return 100.0 * (np.polynomial.polynomial.polyval(x, coef) - y) / y


def fit_series(rps: np.ndarray, y: np.ndarray) -> LineFit:
    """Line fitted on FIT_LOADS, scored on HOLDOUT_LOADS and by leave-one-load-out."""
    fit_mask = np.isin(rps, FIT_LOADS)
    hold_mask = np.isin(rps, HOLDOUT_LOADS)
    coef, se = _fit_poly(rps[fit_mask], y[fit_mask], 1)
    hold = _pct_errors(coef, rps[hold_mask], y[hold_mask])
    lolo: dict[int, float] = {}
    quad_errors: list[np.ndarray] = []
    for load in sorted(set(rps.astype(int))):
        train, test = rps != load, rps == load
        line, _ = _fit_poly(rps[train], y[train], 1)
        lolo[load] = float(np.mean(np.abs(_pct_errors(line, rps[test], y[test]))))
        quad, _ = _fit_poly(rps[train], y[train], 2)
        quad_errors.append(np.abs(_pct_errors(quad, rps[test], y[test])))
    return LineFit(
        intercept=float(coef[0]),
        slope=float(coef[1]),
        intercept_se=float(se[0]),
        slope_se=float(se[1]),
        holdout_mape_pct=float(np.mean(np.abs(hold))),
        holdout_max_abs_pct=float(np.max(np.abs(hold))),
        lolo_pct=lolo,
        quad_lolo_mape_pct=float(np.mean(np.concatenate(quad_errors))),
    )


def sequence_spread_pct(runs: Runs, key: str) -> float:
    """Largest difference between the two Linkerd sequences' means at one load, in %."""
    spreads = []
    for load in sorted(set(runs.rps.astype(int))):
        means = [
            runs.series[key][(runs.rps == load) & (runs.sequence == seq)].mean()
            for seq in sorted(set(runs.sequence))
        ]
        spreads.append(100.0 * (max(means) - min(means)) / np.mean(means))
    return float(max(spreads))


def report(runs: Runs, ambient: Runs, source: Path) -> str:
    """Markdown tables: fits, derived per-request/per-traversal/per-proxy figures, quality."""
    fits = {
        key: fit_series(runs.rps, y)
        for key, y in runs.series.items()
        if key != "cpu:idle_proxies"  # near zero: % errors are meaningless; reported below
    }
    loads = sorted(set(runs.rps.astype(int)))
    lines = [
        "# Linkerd proxy CPU and memory against load (fit of Buoyant 2025 runs)",
        "",
        f"Generated by `scripts/fit_linkerd_resources.py` from `{source.name}` "
        f"(mesh `{MESH}`, {len(runs.rps)} runs of 300 s, sequences "
        f"{', '.join(sorted(set(runs.sequence)))}). Source data: github.com/BuoyantIO/"
        "great-sidecar-debate @8d032dba, V1/Data (GKE, 3 x e2-standard-8, Faces app, 3 wrk2 "
        "pods x 200 keep-alive connections, Linkerd HA install). CPU is container CPU from the "
        "Kubernetes metrics API (it includes the kernel time of the proxy's own syscalls); "
        "memory is working set.",
        "",
        f"Model: value = intercept + slope x load, least squares on loads {FIT_LOADS} "
        f"requests/s (all runs), scored on held-out loads {HOLDOUT_LOADS}. "
        "LOLO = leave-one-load-out: fit on the other four loads, mean |error| at this one "
        "(60 and 1200 are extrapolations). Errors are % of the measured value per run.",
        "",
        "| series | intercept | slope | held-out MAPE % | held-out max % | "
        + " | ".join(f"LOLO {load} %" for load in loads)
        + " | quadratic LOLO MAPE % |",
        "|---|---|---|---|---|" + "---|" * len(loads) + "---|",
    ]
    for key, fit in fits.items():
        unit = "mcores" if key.startswith("cpu:") else "MiB"
        slope_unit = "mcores per rps" if key.startswith("cpu:") else "MiB per rps"
        lines.append(
            f"| {key} | {fit.intercept:.1f} ± {fit.intercept_se:.1f} {unit} | "
            f"{fit.slope:.4f} ± {fit.slope_se:.4f} {slope_unit} | {fit.holdout_mape_pct:.1f} | "
            f"{fit.holdout_max_abs_pct:.1f} | "
            + " | ".join(f"{fit.lolo_pct[load]:.1f}" for load in loads)
            + f" | {fit.quad_lolo_mape_pct:.1f} |"
        )
    lines += [
        "",
        "## Derived figures (1 mcore per request/s = 1000 µs of CPU per request)",
        "",
        "| proxy group | traversals per request | CPU per request µs | CPU per traversal µs | "
        "CPU per message µs (traversal / 2) | intercept per proxy mcores |",
        "|---|---|---|---|---|---|",
    ]
    per_traversal = {}
    for key, traversals in TRAVERSALS.items():
        fit = fits[f"cpu:{key}"]
        per_request_us = 1000.0 * fit.slope
        per_traversal[key] = per_request_us / traversals
        lines.append(
            f"| {key} | {traversals} | {per_request_us:.0f} ± {1000 * fit.slope_se:.0f} | "
            f"{per_traversal[key]:.0f} | {per_traversal[key] / 2:.0f} | "
            f"{fit.intercept / PROXIES[key]:.1f} |"
        )
    total = fits["cpu:data_plane"]
    total_traversals = sum(TRAVERSALS.values())
    lines.append(
        f"| all 27 proxies | {total_traversals} | {1000 * total.slope:.0f} ± "
        f"{1000 * total.slope_se:.0f} | {1000 * total.slope / total_traversals:.0f} | "
        f"{1000 * total.slope / total_traversals / 2:.0f} | "
        f"{total.intercept / ALL_PROXIES:.1f} |"
    )
    idle = runs.series["cpu:idle_proxies"]
    lines += [
        "",
        f"The {IDLE_PROXIES} proxies without traffic (data plane minus the four active groups) "
        f"used {idle.mean():.1f} ± {idle.std(ddof=1):.1f} mcores together "
        f"({idle.mean() / IDLE_PROXIES:.2f} mcores each), independent of load.",
        "",
        "CPU per traversal at each load (mean over runs of CPU / load / traversals, µs): "
        "the cost per request falls as load rises, which is why a line fitted on the other "
        "loads misses the lowest load (LOLO 60) and a quadratic predicts better.",
        "",
        "| proxy group | " + " | ".join(f"{load} rps" for load in loads) + " |",
        "|---|" + "---|" * len(loads),
    ]
    for key, traversals in {**TRAVERSALS, "data_plane": sum(TRAVERSALS.values())}.items():
        cpu = runs.series[f"cpu:{key}"]
        label = "all 27 proxies" if key == "data_plane" else key
        cells = [
            f"{1000.0 * np.mean(cpu[runs.rps == load] / load) / traversals:.0f}" for load in loads
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    face_extra = (
        1000.0 * fits["cpu:face_mesh"].slope
        - per_traversal["smiley_mesh"]
        - per_traversal["wrk2_mesh"]
    )
    lines += [
        "",
        "Additivity check: face proxy CPU per request minus one inbound HTTP/1.1 traversal "
        "(smiley's) and one outbound HTTP/1.1 keep-alive traversal (wrk2's) leaves "
        f"**{face_extra:.0f} µs** for the outbound gRPC call on a new app connection per "
        "request (the cost of accepting and detecting a new connection plus the traversal).",
        "",
        "## Memory per proxy (working set, mean over runs at each load)",
        "",
        "| group | proxies | " + " | ".join(f"{load} rps" for load in loads) + " |",
        "|---|---|" + "---|" * len(loads),
    ]
    groups = {
        "mem:wrk2_mesh": 3,
        "mem:face_mesh": 3,
        "mem:other_21_proxies": 21,
        "mem:data_plane": ALL_PROXIES,
    }
    for key, count in groups.items():
        cells = [f"{runs.series[key][runs.rps == load].mean() / count:.1f} MiB" for load in loads]
        lines.append(f"| {key} | {count} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"## Same harness, Istio ambient + waypoint ({AMBIENT_MESH}, {len(ambient.rps)} runs)",
        "",
        "Line fitted on all loads; per traversal with 2 ztunnel traversals and 1 waypoint "
        "traversal per hop, 3 hops per request. Compare with Linkerd's all-proxy figure above.",
        "",
        "| component | CPU per request µs | traversals per request | CPU per traversal µs |",
        "|---|---|---|---|",
    ]
    for key, traversals in AMBIENT_TRAVERSALS.items():
        coef, se = _fit_poly(ambient.rps, ambient.series[f"cpu:{key}"], 1)
        lines.append(
            f"| {key} | {1000 * coef[1]:.0f} ± {1000 * se[1]:.0f} | {traversals} | "
            f"{1000 * coef[1] / traversals:.0f} |"
        )
    lines += [
        "",
        "## Repeatability",
        "",
        "Largest gap between the two Linkerd sequences' means at one load: "
        + ", ".join(
            f"{key} {sequence_spread_pct(runs, key):.1f} %"
            for key in ("cpu:data_plane", "mem:data_plane")
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args(argv)
    try:
        text = report(read_runs(args.csv), read_ambient(args.csv), args.csv)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.out:
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        tmp.replace(args.out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
