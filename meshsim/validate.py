"""Validation: simulate every measured configuration with a profile and report the error, with
the additive baseline beside it, split into the points the profile was fitted on and the ones
it was not (the hold-out)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from meshsim import __version__, profiles
from meshsim.additive import Additive
from meshsim.calibrate import residual_table, simulated_metrics
from meshsim.errors import ScenarioError
from meshsim.loader import LoadedScenario, load_scenario
from meshsim.measurements import CPU, LATENCY, METRICS, proxy_cpu_metrics, scenario_for
from meshsim.output import write_bytes, write_csv, write_json
from meshsim.simulate import simulate

TARGETS_PCT = {"p50": 15.0, "p90": 15.0, "p99": 25.0, "cpu": 15.0}  # issue 10


def template_for(profile_path: Path, scenario: str | None) -> LoadedScenario:
    """The scenario a fitted profile is validated in: its recorded template and fitted
    environment, with the profile itself as ``mesh.profile``."""
    calibration = profiles.calibration_of(profile_path)
    profiles.load_profile(str(profile_path))  # the whole profile checked first, as data
    if scenario:
        path = Path(scenario)
    elif calibration.get("template"):
        path = profile_path.parent / calibration["template"]  # recorded relative to the profile
    else:
        raise ScenarioError("the profile records no template: give --scenario", str(profile_path))
    overrides = [
        *calibration.get("scenario_overrides", []),
        f"mesh.profile={profile_path.resolve()}",
    ]
    return load_scenario(path, overrides)


def additive_metrics(loaded: LoadedScenario) -> dict[str, float]:
    latency_s, vcpu = Additive(loaded).predict()
    out = {q: latency_s * 1e3 for q in LATENCY}
    kinds = {name: name.rsplit(".", 1)[1] for name in vcpu}  # component_name(owner, kind)
    out.update(proxy_cpu_metrics(vcpu, kinds))
    return out


def validate(
    template: LoadedScenario,
    points: pd.DataFrame,
    fitted: Iterable[str] = (),
    duration_s: float = 4.0,
    replications: int = 1,
    progress: Callable[[str], None] | None = None,
    dropped: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per point and metric: meshsim and additive predictions, measured, errors.

    ``fitted`` names the points the profile was fitted on (``set`` = fit; the rest are the
    hold-out): identities, never a query, so a profile's record of its fit does not select or
    mark anything in other data. ``dropped`` points (invalid runs, points not selected) get one
    row each with ``set`` = dropped and the reason, so the table says what it left out."""
    if isinstance(fitted, str):
        raise TypeError("fitted: the ids of the fitted points, not a selector")
    fitted = set(fitted)
    frames = []
    for i, (_, point) in enumerate(points.iterrows()):
        if progress:
            progress(f"point {i + 1}/{len(points)}: {point['point']}")
        sc = scenario_for(template, point, duration_s, replications)
        one = point.to_frame().T
        sim = residual_table(one, [simulated_metrics(simulate(sc))], METRICS)
        add = residual_table(one, [additive_metrics(sc)], METRICS)
        row = sim.rename(columns={"predicted": "meshsim", "error_pct": "meshsim_error_pct"})
        row["additive"] = add["predicted"].to_numpy()
        row["additive_error_pct"] = add["error_pct"].to_numpy()
        for key in ("mode", "variant", "connections", "requested_qps", "campaign"):
            row[key] = point[key]
        row["set"] = "fit" if point["point"] in fitted else "holdout"
        row["dropped_because"] = ""
        frames.append(row.drop(columns=["log_ratio"]))
    if dropped is not None and len(dropped):
        keys = ["point", "mode", "variant", "connections", "requested_qps", "campaign"]
        rows = dropped[[k for k in keys if k in dropped.columns]].copy()
        rows["set"] = "dropped"
        rows["dropped_because"] = dropped["reason"].to_numpy()
        frames.append(rows)
    return pd.concat(frames, ignore_index=True)


def measured(points: pd.DataFrame) -> pd.Series:
    """Which points have at least one metric meshsim predicts."""
    return points[list(METRICS)].apply(pd.to_numeric).gt(0).any(axis=1)


def dropped_points(
    points: pd.DataFrame, chosen: pd.DataFrame, invalid: pd.DataFrame, why: str
) -> pd.DataFrame:
    """Every point left out of a validation: the invalid runs (with their reasons), the valid
    points the selection did not choose (``why``), and chosen points with nothing measured
    that meshsim predicts."""
    unchosen = points[~points["point"].isin(chosen["point"])].assign(reason=why)
    empty = chosen[~measured(chosen)].assign(reason="nothing measured to compare (latency or CPU)")
    columns = [
        "point",
        "run_label",
        "reason",
        "campaign",
        "mode",
        "variant",
        "connections",
        "requested_qps",
    ]
    frames = [
        f[[c for c in columns if c in f.columns]] for f in (invalid, unchosen, empty) if len(f)
    ]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)


def _metric_group(metric: str) -> str:
    return "cpu" if metric in CPU else metric


def summarise(table: pd.DataFrame, provenance: dict[str, Any]) -> dict[str, Any]:
    """Mean absolute percentage error per metric, per model, per set; and the targets."""
    out: dict[str, Any] = {
        "meshsim_version": __version__,
        "provenance": provenance,
        "units": {"mape_pct": "mean absolute percentage error, %"},
        "targets_pct": TARGETS_PCT,
    }
    scored = table[table["set"] != "dropped"]
    for subset in ("holdout", "fit", "all"):
        rows = scored if subset == "all" else scored[scored["set"] == subset]
        if rows.empty:
            continue
        part: dict[str, Any] = {"points": int(rows["point"].nunique())}
        for model in ("meshsim", "additive"):
            mape = {}
            for metric, group in rows.groupby(rows["metric"].map(_metric_group)):
                mape[metric] = round(float(group[f"{model}_error_pct"].abs().mean()), 2)
            part[f"{model}_mape_pct"] = mape
        part["meshsim_within_target"] = {
            m: v <= TARGETS_PCT[m] for m, v in part["meshsim_mape_pct"].items()
        }
        out[subset] = part
    dropped = table[table["set"] == "dropped"].drop_duplicates("point")
    out["dropped"] = [{"point": r.point, "reason": r.dropped_because} for r in dropped.itertuples()]
    headline = out.get("holdout") or out["all"]
    out["mape_pct"] = headline["meshsim_mape_pct"]
    out["additive_mape_pct"] = headline["additive_mape_pct"]
    return out


def plots(table: pd.DataFrame, out: Path) -> list[Path]:
    written = []
    lat = table[table["metric"].isin(LATENCY)]
    fig = Figure(figsize=(11, 4.8))
    axes = fig.subplots(1, 2)
    for ax, metrics, title, unit in (
        (axes[0], LATENCY, "latency", "ms"),
        (axes[1], CPU, "proxy CPU", "millicores"),
    ):
        part = table[table["metric"].isin(metrics)]
        if part.empty:
            ax.set_visible(False)
            continue
        for model, marker in (("meshsim", "o"), ("additive", "x")):
            for subset, alpha in (("fit", 0.35), ("holdout", 0.9)):
                rows = part[part["set"] == subset]
                ax.scatter(
                    rows["measured"],
                    rows[model],
                    marker=marker,
                    alpha=alpha,
                    label=f"{model} ({subset})",
                )
        lo = float(np.nanmin(part[["measured", "meshsim", "additive"]].to_numpy()))
        hi = float(np.nanmax(part[["measured", "meshsim", "additive"]].to_numpy()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"measured {title} ({unit})")
        ax.set_ylabel(f"predicted {title} ({unit})")
        ax.set_title(f"predicted against measured: {title}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(_save(fig, out / "predicted-vs-measured.png"))
    for axis, name in (
        ("connections", "latency-vs-connections.png"),
        ("requested_qps", "latency-vs-load.png"),
    ):
        if lat[axis].nunique() < 2:
            continue
        curves = lat[lat["metric"].isin(["p50", "p99"])]
        groups = list(curves.groupby(["mode", "variant"]))
        fig = Figure(figsize=(4.2 * len(groups), 4))
        axes = fig.subplots(1, len(groups), squeeze=False)
        for ax, ((mode, variant), rows) in zip(axes[0], groups, strict=True):
            for metric, style in (("p50", "-"), ("p99", ":")):
                r = rows[rows["metric"] == metric].sort_values(axis)
                ax.plot(r[axis], r["measured"], "k" + style, marker="s", label=f"measured {metric}")
                ax.plot(r[axis], r["meshsim"], "C0" + style, marker="o", label=f"meshsim {metric}")
                ax.plot(
                    r[axis], r["additive"], "C1" + style, marker="x", label=f"additive {metric}"
                )
            ax.set_title(f"{mode} {variant}".strip())
            ax.set_xlabel(axis.replace("_", " "))
            ax.set_ylabel("latency (ms)")
            ax.set_yscale("log")
            if axis == "connections":
                ax.set_xscale("log", base=2)
            ax.legend(fontsize=6)
        fig.tight_layout()
        written.append(_save(fig, out / name))
    cpu = table[table["metric"].isin(CPU)]
    if cpu["requested_qps"].nunique() >= 2:
        written.append(_cpu_vs_load(cpu, out / "cpu-vs-load.png"))
    return written


def _cpu_vs_load(cpu: pd.DataFrame, path: Path) -> Path:
    """Proxy CPU against the requested rate, per metric: measured, meshsim, additive; the
    points the profile was fitted on are filled."""
    groups = list(cpu.groupby(["campaign", "metric"]))
    fig = Figure(figsize=(4.2 * len(groups), 4))
    axes = fig.subplots(1, len(groups), squeeze=False)
    for ax, ((campaign, metric), rows) in zip(axes[0], groups, strict=True):
        rows = rows.sort_values("requested_qps")
        ax.plot(rows["requested_qps"], rows["measured"], "ks-", label="measured")
        ax.plot(rows["requested_qps"], rows["meshsim"], "C0o-", label="meshsim")
        ax.plot(rows["requested_qps"], rows["additive"], "C1x:", label="additive")
        fit = rows[rows["set"] == "fit"]
        ax.scatter(
            fit["requested_qps"],
            fit["measured"],
            s=90,
            facecolors="none",
            edgecolors="C3",
            label="fitted on",
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{campaign}: {metric}", fontsize=9)
        ax.set_xlabel("requested rate (requests/s)")
        ax.set_ylabel("CPU (millicores)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return write_bytes(path, buffer.getvalue())


# validation.csv holds latency and CPU metrics in the same columns: the row's metric says which
_BY_METRIC = "per row: ms for latency metrics (mean, pNN), millicores for CPU metrics (cpu_*)"
VALIDATION_UNITS = {
    "meshsim": _BY_METRIC,
    "measured": _BY_METRIC,
    "additive": _BY_METRIC,
    "meshsim_error_pct": "%",
    "additive_error_pct": "%",
}


def write_validation(table: pd.DataFrame, out: Path, provenance: dict[str, Any]) -> list[Path]:
    provenance = {**provenance, "meshsim_version": __version__}
    summary = summarise(table, provenance)
    return [
        write_csv(out / "validation.csv", table, provenance, VALIDATION_UNITS),
        out / "provenance.json",
        write_json(out / "summary.json", summary),
        *plots(table, out),
    ]
