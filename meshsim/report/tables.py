"""The report's tables, each a DataFrame with its units in its column names."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from meshsim import cost
from meshsim.domain import PROXY_HOPS, PROXY_KINDS, Kind
from meshsim.report.gather import ProfileRun, ReportData

COST_KINDS = (
    Kind.APP,
    *PROXY_KINDS,
    Kind.CILIUM_AGENT,
    Kind.ISTIOD,
    Kind.LINKERD_CONTROL,
    Kind.KERNEL,
)


def summary_table(data: ReportData, run: ProfileRun | None = None) -> pd.DataFrame:
    """One row per mode: latency added, resources, provisioned and monthly cost, capacity."""
    run = run or data.main
    table = run.comparison.table().set_index("mode")
    rows = []
    for mode, est in run.costs.items():
        s = est.summary()
        row: dict[str, Any] = {"mode": mode}
        lat = table.loc[mode]
        if "added_p50_ms" in table.columns:
            for key in ("p50", "p95", "p99"):
                row[f"latency added {key} (ms)"] = lat[f"added_{key}_ms"]
            low, high = lat.get("added_p99_ci95_low_ms"), lat.get("added_p99_ci95_high_ms")
            if low is not None and not math.isnan(low):
                row["added p99 95% CI low (ms)"] = low
                row["added p99 95% CI high (ms)"] = high
        row["p99 (ms)"] = lat["p99_ms"]
        row["mesh vCPU used"] = s["mesh_used_vcpu"]
        row["mesh memory used (MiB)"] = s["mesh_used_gib"] * cost.MIB_PER_GIB
        row["requests (vCPU)"] = s["requested_vcpu"]
        row["requests (GiB)"] = s["requested_gib"]
        row["nodes needed / run"] = f"{s['nodes_needed']} / {s['nodes_run']}"
        row["provisioned (USD/month)"] = s["provisioned_usd_month"]
        row["money (USD/month)"] = s["total_usd_month"]
        cap = data.capacities.get(mode) if run is data.main else None
        if cap is not None:
            row[f"max rate {data.slo} (rps)"] = cap.max_rate_rps
        row["verdict"] = lat["verdict"]
        rows.append(row)
    return pd.DataFrame(rows)


def per_call_table(run: ProfileRun) -> pd.DataFrame:
    """Per call: proxies traversed, time in proxies, and latency added over ``none``."""
    base = run.comparison.results.get("none")
    base_mean = float(base.latency().loc["mean", "ms"]) if base is not None else math.nan
    rows = []
    for mode, result in run.comparison.results.items():
        calls = run.costs[mode].traffic.calls_per_request
        hops = result.hops().set_index("hop")
        proxy = hops.loc[[h for h in PROXY_HOPS if h in hops.index]]
        # each traversal is visited twice per call: the request, then the response
        traversals = float(proxy["visits_per_request"].sum()) / 2 / calls if calls else 0.0
        proxy_ms = float(proxy["per_request_ms"].sum()) / calls if calls else 0.0
        mean = float(result.latency().loc["mean", "ms"])
        rows.append(
            {
                "mode": mode,
                "calls per request": calls,
                "proxy traversals per call": traversals,
                "time in proxies per call (ms)": proxy_ms,
                "per traversal (ms)": proxy_ms / traversals if traversals else math.nan,
                "mean latency added per call (ms)": (mean - base_mean) / calls if calls else 0,
            }
        )
    return pd.DataFrame(rows)


def saving_table(run: ProfileRun) -> pd.DataFrame | None:
    """Ambient against sidecar: mesh cost by view, and the saving."""
    if "sidecar" not in run.costs or "ambient" not in run.costs:
        return None
    side, amb = run.costs["sidecar"].summary(), run.costs["ambient"].summary()
    views = [
        ("data-plane requests, priced (USD/month)", "dataplane_provisioned_usd_month"),
        ("data-plane requests (vCPU)", "dataplane_requested_vcpu"),
        ("data-plane requests (GiB)", "dataplane_requested_gib"),
        ("mesh requests incl. istiod, priced (USD/month)", "mesh_provisioned_usd_month"),
        ("data-plane used, priced (USD/month)", "dataplane_used_usd_month"),
        ("data-plane used (vCPU)", "dataplane_used_vcpu"),
        ("data-plane used (GiB)", "dataplane_used_gib"),
        ("nodes run, priced (USD/month)", "nodes_usd_month"),
    ]
    rows = []
    for label, key in views:
        s, a = side[key], amb[key]
        rows.append(
            {
                "view": label,
                "sidecar": s,
                "ambient": a,
                "ambient saves (%)": (1 - a / s) * 100 if s else math.nan,
            }
        )
    return pd.DataFrame(rows)


def profiles_table(data: ReportData) -> pd.DataFrame:
    """The figures the field quotes, one column per profile."""
    runs = [data.main, *data.others]
    rows: dict[str, dict[str, float]] = {}
    for run in runs:
        calls = per_call_table(run).set_index("mode")
        saving = saving_table(run)
        col = f"profile {run.profile}"
        for mode, label in (("sidecar", "two sidecars (L7)"), ("ambient", "two ztunnels (L4)")):
            if mode in calls.index:
                per = calls.loc[mode, "per traversal (ms)"]
                rows.setdefault(f"{label}: ms per traversal", {})[col] = per
                total = calls.loc[mode, "time in proxies per call (ms)"]
                rows.setdefault(f"{label}: ms per call", {})[col] = total
        if saving is not None:
            by_view = saving.set_index("view")["ambient saves (%)"]
            for view in (
                "data-plane requests, priced (USD/month)",
                "data-plane used, priced (USD/month)",
            ):
                rows.setdefault(f"ambient saves on {view.split(',')[0]} (%)", {})[col] = float(
                    by_view[view]
                )
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.insert(0, "the claim", [CLAIM.get(label, math.nan) for label in frame.index])
    frame.index.name = "figure"
    return frame.reset_index()


# The field's figures (a talk on ambient mesh, mTLS), as meshsim/profile_data/seed-claims.yaml
# turns them into parameters.
CLAIM = {
    "two sidecars (L7): ms per traversal": 2.0,
    "two sidecars (L7): ms per call": 4.0,
    "two ztunnels (L4): ms per traversal": 0.5,
    "two ztunnels (L4): ms per call": 1.0,
    "ambient saves on data-plane requests (%)": 75.0,
    "ambient saves on data-plane used (%)": 75.0,
}


def cost_kind_table(run: ProfileRun) -> pd.DataFrame:
    frames = []
    for mode, est in run.costs.items():
        f = est.by_kind.loc[[k for k in COST_KINDS if k in est.by_kind.index]].reset_index()
        f.insert(0, "mode", mode)
        frames.append(f)
    out = pd.concat(frames)
    out = out[(out["requested_vcpu"] > 0) | (out["used_vcpu"] > 0) | (out["used_gib"] > 0)]
    return out.rename(
        columns={
            "requested_vcpu": "requested (vCPU)",
            "requested_gib": "requested (GiB)",
            "used_vcpu": "used (vCPU)",
            "used_gib": "used (GiB)",
            "requested_usd_month": "requested (USD/month)",
            "used_usd_month": "used (USD/month)",
        }
    )
