"""``meshsim report``: one scenario, every mode, as a page people would rather look at.

The report is built once as a list of sections (paragraphs, bullet lists, tables, figures) and
rendered twice: ``index.html`` with every image embedded as base64 (it opens offline, as one
file) and ``report.md`` with the PNGs beside it. The numbers come from three places, each named
where it is shown: the simulation at the workload's rate (``compare``), the capacity search
(``capacity``), and the cost model (``cost``), which also draws the analytic scaling curves.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from meshsim import __version__, cost
from meshsim.capacity import Capacity, Slo, capacity_row, points_frame, search
from meshsim.loader import LoadedScenario
from meshsim.output import write_bytes, write_csv, write_text
from meshsim.results import Result
from meshsim.scenario import MODES
from meshsim.simulate import Comparison, simulate

Progress = Callable[[str], None]
PROXY_HOPS = ("sidecar_out", "sidecar_in", "ztunnel_out", "ztunnel_local", "ztunnel_in", "waypoint")
COST_KINDS = ("app", "sidecar", "ztunnel", "waypoint", "istiod", "kernel")
COLOURS = {
    "none": "#7f7f7f",
    "sidecar": "#d62728",
    "ambient": "#1f77b4",
    "waypoint": "#9467bd",
    "app": "#8c8c8c",
    "kernel": "#bcbd22",
    "ztunnel": "#1f77b4",
    "istiod": "#ff7f0e",
    "cross-zone": "#17becf",
    "network": "#17becf",
    "client": "#c7c7c7",
    "ebpf": "#2ca02c",
    "sidecar_out": "#d62728",
    "sidecar_in": "#ff9896",
    "ztunnel_out": "#1f77b4",
    "ztunnel_local": "#6baed6",
    "ztunnel_in": "#aec7e8",
}


# --- the document model ------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    name: str  # file name of the PNG beside report.md
    png: bytes
    caption: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


Block = str | Table | Figure | Bullets


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


# --- gathering the numbers ---------------------------------------------------------------


@dataclass
class ProfileRun:
    """One parameter profile: a comparison at the workload's rate and its costs per mode."""

    profile: str
    comparison: Comparison
    costs: dict[str, cost.CostEstimate]


@dataclass
class ReportData:
    loaded: LoadedScenario
    slo: Slo
    main: ProfileRun
    capacities: dict[str, Capacity]
    capacity_table: pd.DataFrame
    others: list[ProfileRun]
    search_settings: dict[str, Any]


def run_profile(
    loaded: LoadedScenario,
    modes: Sequence[str],
    replications: int | None,
    progress: Progress | None,
) -> ProfileRun:
    results: dict[str, Result] = {}
    costs = {}
    for mode in modes:
        in_mode = loaded.with_changes(f"mesh.mode={mode}")
        results[mode] = simulate(in_mode, replications, progress)
        costs[mode] = cost.estimate(in_mode, results[mode])
    return ProfileRun(loaded.profile.name, Comparison(results), costs)


def gather(
    loaded: LoadedScenario,
    modes: Sequence[str] = MODES,
    slo: Slo | str | None = None,
    *,
    replications: int | None = None,
    other_profiles: Iterable[str] = (),
    capacity: bool = True,
    requests_per_point: int = 2000,
    rel_tol: float = 0.03,
    progress: Progress | None = None,
) -> ReportData:
    """Simulate every mode at the workload's rate, search each mode's capacity, price it."""
    slo = Slo.parse(slo or loaded.scenario.cost.slo) if not isinstance(slo, Slo) else slo
    main = run_profile(loaded, modes, replications, progress)
    caps: dict[str, Capacity] = {}
    rows = []
    if capacity:
        for mode in modes:
            in_mode = loaded.with_changes(f"mesh.mode={mode}")
            caps[mode] = search(
                in_mode,
                slo,
                requests_per_point=requests_per_point,
                rel_tol=rel_tol,
                progress=progress,
            )
            rows.append(capacity_row(in_mode, caps[mode], None))
    others = [
        run_profile(loaded.with_changes(f"mesh.profile={name}"), modes, replications, progress)
        for name in other_profiles
    ]
    settings = {
        "requests_per_point": requests_per_point,
        "replications_per_point": 1,
        "relative_tolerance": rel_tol,
    }
    return ReportData(loaded, slo, main, caps, pd.DataFrame(rows), others, settings)


# --- tables ------------------------------------------------------------------------------


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


# The field's figures as quoted in shared/MODEL.md section 3 (a talk on ambient mesh, mTLS).
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
        f = est.by_kind.loc[list(COST_KINDS)].reset_index()
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


# --- figures -----------------------------------------------------------------------------


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def latency_load_figure(data: ReportData) -> Figure:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    frame = points_frame(data.capacities)
    top = data.slo.threshold_ms * 3
    for mode, group in frame.groupby("mode", sort=False):
        g = group.sort_values("rate_rps")
        y = g["value_ms"].where(g["status"] == "ok").clip(upper=top)
        colour = COLOURS.get(str(mode))
        ax.plot(g["rate_rps"], y, "-o", color=colour, label=str(mode), ms=4)
        sat = g[g["status"] != "ok"]
        ax.plot(sat["rate_rps"], [top] * len(sat), "x", color=colour, ms=8)
        cap = data.capacities[str(mode)].max_rate_rps
        if cap > 0:
            ax.axvline(cap, color=colour, lw=0.8, ls=":")
    ax.axhline(data.slo.threshold_ms, color="black", lw=1.2, ls="--", label=f"SLO {data.slo}")
    rate = cost.workload_rate_rps(data.loaded.scenario)
    if rate:
        ax.axvline(rate, color="grey", lw=1, label=f"workload rate {rate:g} rps")
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel("entry rate (requests/s)")
    ax.set_ylabel(f"{data.slo.statistic} latency (ms)")
    ax.set_title(f"Latency against load per mode ({data.slo.statistic}; x = saturated)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    caption = (
        f"Each point is one short simulation from the capacity search "
        f"({data.search_settings['requests_per_point']} requests, 1 replication); dotted lines "
        f"mark each mode's highest rate within {data.slo}. Values above the plot are drawn at "
        "its top edge; x marks a saturated run."
    )
    return Figure("latency_vs_load.png", _png(fig), caption)


def waterfall_figure(run: ProfileRun) -> Figure:
    plt = _plt()
    results = run.comparison.results
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.7 * len(results)))
    seen: set[str] = set()
    for i, result in enumerate(results.values()):
        hops = result.hops()
        hops = hops.assign(order=[_path_order(h) for h in hops["hop"]]).sort_values("order")
        left = 0.0
        for _, h in hops.iterrows():
            width = float(h["per_request_ms"])
            kind = str(h["hop"])
            label = kind if kind not in seen else None
            seen.add(kind)
            ax.barh(
                i,
                width,
                left=left,
                color=COLOURS.get(kind, "#444444"),
                label=label,
                edgecolor="white",
                lw=0.5,
            )
            left += width
        mean = float(result.latency().loc["mean", "ms"])
        ax.plot([mean], [i], "k|", ms=18, mew=2)
    ax.set_yticks(range(len(results)), list(results))
    ax.invert_yaxis()
    ax.set_xlabel("ms per request (mean), hop kinds laid end to end; | = mean end-to-end latency")
    ax.set_title("Where a typical request's time goes, per mode")
    ax.legend(fontsize=7, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.28))
    ax.grid(axis="x", alpha=0.3)
    caption = (
        "Mean time per root request in each kind of hop (`Result.hops()` per_request_ms): "
        "queueing plus service, summed over every call on the path, in path order (outbound "
        "proxy, kernel, network, waypoint, inbound proxy, app). Calls made in parallel "
        "overlap in time, so the bar can be longer than the end-to-end latency (|)."
    )
    return Figure("waterfall.png", _png(fig), caption)


def cost_figure(run: ProfileRun) -> Figure:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=False)
    modes = list(run.costs)
    for ax, what, title in (
        (axes[0], "requested", "Provisioned: requests priced"),
        (axes[1], "used", "Used: simulated vCPU and memory priced"),
    ):
        bottom = [0.0] * len(modes)
        for kind in (*COST_KINDS, "cross-zone"):
            if kind == "cross-zone":
                values = [run.costs[m].cross_zone_usd_month for m in modes]
            else:
                values = [float(run.costs[m].by_kind.loc[kind, f"{what}_usd_month"]) for m in modes]
            if not any(v > 0 for v in values):
                continue
            ax.bar(modes, values, bottom=bottom, label=kind, color=COLOURS.get(kind))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("USD per month")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Cost per component kind")
    c = run.costs[modes[0]]
    caption = (
        f"Requests and simulated use priced at ${data_price(run)} per vCPU-hour and GiB-hour, "
        f"{c.hours_per_month:g} hours a month; cross-zone traffic at "
        f"${c.usd_per_cross_zone_gb:g}/GB at each mode's simulated throughput. Whole nodes are "
        "not in these bars (see the summary's money column)."
    )
    return Figure("cost_by_kind.png", _png(fig), caption)


def data_price(run: ProfileRun) -> str:
    sc = next(iter(run.comparison.results.values())).loaded.scenario
    return f"{sc.cost.usd_per_vcpu_hour:g} / ${sc.cost.usd_per_gib_hour:g}"


_PATH = ("sidecar_out", "ztunnel_out", "ztunnel_local", "kernel", "ebpf", "network", "waypoint")
_PATH_END = ("ztunnel_in", "sidecar_in", "app")


def _path_order(hop: str) -> float:
    """Hop kinds in the order a request meets them; unknown kinds just before the app."""
    order = [*_PATH, *_PATH_END]
    return order.index(hop) if hop in order else len(_PATH) + 0.5


def scenario_density(loaded: LoadedScenario) -> float:
    """App pods per node in the scenario as written."""
    pods = sum(s.replicas for s in loaded.scenario.services.values())
    return pods / len(loaded.scenario.cluster.node_names())


def scaling_figure(loaded: LoadedScenario) -> Figure:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
    hours = loaded.scenario.cost.hours_per_month
    density = scenario_density(loaded)
    ppn = list(range(1, 61))
    side = [
        cost.priced_usd_hour(loaded, *cost.mesh_requests_per_node(loaded, p)["sidecar"]) * hours
        for p in ppn
    ]
    amb = cost.priced_usd_hour(loaded, *cost.mesh_requests_per_node(loaded, 1)["ambient"]) * hours
    ax = axes[0]
    ax.plot(ppn, side, color=COLOURS["sidecar"], label="sidecars (one per pod)")
    ax.plot(ppn, [amb] * len(ppn), color=COLOURS["ambient"], label="ztunnel (one per node)")
    ax.axvline(density, color="grey", ls=":", label=f"this scenario: {density:.1f} pods/node")
    ax.set_xlabel("app pods per node")
    ax.set_ylabel("proxy requests priced (USD/month/node)")
    ax.set_title("Proxy requests per node", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[1]
    saving = [cost.ambient_saving(loaded, p) * 100 for p in ppn]
    ax.plot(ppn, saving, color="black")
    ax.axhline(75, color=COLOURS["istiod"], ls="--", label="the claim: 75% lower")
    ax.axhline(0, color="grey", lw=0.8)
    at75 = cost.pods_per_node_for_saving(loaded, 0.75)
    if math.isfinite(at75):
        ax.axvline(at75, color=COLOURS["istiod"], ls=":", label=f"75% at {at75:.1f} pods/node")
    ax.axvline(density, color="grey", ls=":", label=f"this scenario: {density:.1f}")
    ax.set_ylim(max(-200, min(saving)), 100)
    ax.set_xlabel("app pods per node")
    ax.set_ylabel("ambient saves (%)")
    ax.set_title("Where ~75% lower holds (requests priced)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax = axes[2]
    services = list(range(1, 1001, 10))
    mean_replicas = sum(s.replicas for s in loaded.scenario.services.values()) / len(
        loaded.scenario.services
    )
    zt = loaded.params.ztunnel
    for pods, style in ((5, ":"), (10, "-"), (30, "-.")):
        ax.plot(
            services,
            [pods * cost.sidecar_memory_mib(loaded, n, 0) for n in services],
            color=COLOURS["sidecar"],
            ls=style,
            label=f"sidecars, {pods} pods/node",
        )
    scoped = _scoped_visible(loaded)
    ax.plot(
        services,
        [10 * cost.sidecar_memory_mib(loaded, scoped, 0)] * len(services),
        color="#ff9896",
        ls="--",
        label=f"sidecars, 10 pods/node, namespace scope ({scoped} visible)",
    )
    ax.plot(
        services,
        [
            zt.memory_base_mib + zt.memory_per_service_kib * n * mean_replicas / 1024
            for n in services
        ],
        color=COLOURS["ambient"],
        label="one ztunnel (any pods/node)",
    )
    ax.set_xlabel("services in the mesh (each visible to every sidecar)")
    ax.set_ylabel("modelled proxy memory per node (MiB)")
    ax.set_yscale("log")
    ax.set_title("Memory as the mesh grows", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    p = loaded.params.sidecar
    caption = (
        "Cost model, not simulation. Left and middle: Kubernetes requests per node, sidecar "
        f"{p.cpu_request_m:g}m / {p.memory_request_mib:g} Mi per pod against one ztunnel of "
        f"{zt.cpu_request_m:g}m / {zt.memory_request_mib:g} Mi per node (profile "
        f"`{loaded.profile.name}`), priced; istiod and waypoints left out. Right: memory "
        f"model of profile `{loaded.profile.name}` (base + {p.memory_per_service_kib:g} KiB per "
        f"visible service per sidecar; ztunnel {zt.memory_per_service_kib:g} KiB per workload, "
        f"{mean_replicas:.1f} pods per service), connections left out."
    )
    return Figure("scaling.png", _png(fig), caption)


def _scoped_visible(loaded: LoadedScenario) -> int:
    """Mean services a sidecar sees with namespace scope, in this scenario (at least 1)."""
    sc = loaded.scenario
    counts = []
    for svc in sc.services.values():
        called = {c.service for step in svc.calls for c in step}
        same = {n for n, s in sc.services.items() if s.namespace == svc.namespace}
        counts.append(len(same | called))
    return max(1, round(sum(counts) / len(counts)))


# --- the document ------------------------------------------------------------------------


def _fmt_rate(value: float | None) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:,.0f}"
    )


def build(data: ReportData) -> list[Section]:
    loaded, sc = data.loaded, data.loaded.scenario
    main = data.main
    modes = list(main.comparison.results)
    first = next(iter(main.comparison.results.values()))
    reps = len(first.replications)
    rate = cost.workload_rate_rps(sc)
    sections: list[Section] = []

    intro = Section(f"meshsim report: {sc.name}")
    if sc.description.strip():
        intro.blocks.append(sc.description.strip())
    intro.blocks.append(
        f"Modes {', '.join(modes)} simulated at the workload's rate ({rate:g} requests/s) with "
        f"profile `{loaded.profile.name}`, {reps} replication(s) each, common random numbers; "
        f"latency objective `{data.slo}`. Every figure below names where it comes from."
    )
    sections.append(intro)

    summary = Section("Summary per mode")
    summary.blocks.append(
        Table(
            summary_table(data),
            "Latency in ms (mean of replications; added = over mode none with the same "
            "arrivals). mesh vCPU / memory used: sidecars + ztunnels + waypoints simulated, "
            "plus istiod modelled. requests: Kubernetes requests of everything deployed. "
            "provisioned: those requests priced per vCPU-hour and GiB-hour. money: the nodes "
            "run (the scenario's, or more if the requests need more) priced whole, plus "
            "cross-zone traffic. max rate: highest entry rate meeting the SLO (capacity search).",
        )
    )
    if data.capacities:
        summary.blocks.append(
            Table(
                _capacity_display(data.capacity_table),
                f"Capacity within {data.slo}: headroom is over the workload's rate; nodes and "
                "money for a target rate scale the simulated cluster linearly.",
            )
        )
    sections.append(summary)

    if data.others:
        sections.append(
            Section(
                "Profiles side by side",
                [
                    Table(
                        profiles_table(data),
                        "the claim: the field's figures (a talk on ambient mesh, quoted in "
                        "MODEL.md section 3). Per call: simulated at the workload's rate, time "
                        "in the mode's proxies, request and response. Savings: sidecar mode "
                        "against ambient (ztunnel only), requests from the cost model, used "
                        "from the simulation.",
                    )
                ],
            )
        )
    if data.capacities:
        sections.append(Section("Latency against load", [latency_load_figure(data)]))
    sections.append(
        Section(
            "Where the time goes",
            [waterfall_figure(main), Table(per_call_table(main), _PER_CALL_CAPTION)],
        )
    )
    sections.append(
        Section(
            "Cost per component kind",
            [cost_figure(main), Table(cost_kind_table(main), "Per mode and kind; vCPU, GiB.")],
        )
    )
    sections.append(saving_section(data))
    for other in data.others:
        sections.append(
            Section(
                f"The same cluster under profile `{other.profile}`",
                [
                    "Same scenario, seed and modes; only the parameter profile differs.",
                    Table(per_call_table(other), _PER_CALL_CAPTION),
                    Table(summary_table(data, other), "As the summary above (no capacity search)."),
                    *(
                        [Table(t, "Ambient against sidecar under this profile.")]
                        if (t := saving_table(other)) is not None
                        else []
                    ),
                ],
            )
        )
    sections.append(assumptions_section(data))
    return sections


_PER_CALL_CAPTION = (
    "Per call (one request and its response between two pods): proxies traversed, the time "
    "spent in them (queueing plus service plus any fixed added latency), and the end-to-end "
    "mean latency added over mode none divided by the calls per request."
)


def _capacity_display(table: pd.DataFrame) -> pd.DataFrame:
    cols = {
        "mode": "mode",
        "max_rate_rps": "max rate (rps)",
        "first_failing_rps": "first failing (rps)",
        "limited_by": "limited by",
        "bottleneck": "busiest component there",
        "headroom_pct": "headroom (%)",
        "target_rate_rps": "target (rps)",
        "nodes_for_target": "nodes for target",
        "usd_month_for_target": "USD/month for target",
    }
    return table[list(cols)].rename(columns=cols)


def saving_section(data: ReportData) -> Section:
    loaded = data.loaded
    sec = Section("The ~75% claim: shared per-node proxies against sidecars")
    table = saving_table(data.main)
    density = scenario_density(loaded)
    at75 = cost.pods_per_node_for_saving(loaded, 0.75)
    p, z = loaded.params.sidecar, loaded.params.ztunnel
    even = cost.pods_per_node_for_saving(loaded, 0.0)
    sec.blocks.append(
        "The field claims that shared per-node proxies (ztunnel) cut mesh infrastructure cost "
        "by about 75%. On requests, a node's sidecars ask for "
        f"{p.cpu_request_m:g}m and {p.memory_request_mib:g} Mi per pod, one ztunnel for "
        f"{z.cpu_request_m:g}m and {z.memory_request_mib:g} Mi per node: priced, ambient breaks "
        f"even at {even:.1f} app pods per node and saves 75% from {at75:.1f} pods per node. "
        f"This scenario has {density:.1f} pods per node."
    )
    if table is not None:
        sec.blocks.append(
            Table(
                table,
                "This scenario, sidecar against ambient (ztunnel only, no waypoint). Used = "
                "simulated at the workload's rate; requests = Kubernetes requests.",
            )
        )
        req = float(table.loc[0, "ambient saves (%)"])
        used = float(table.loc[4, "ambient saves (%)"])
        holds = "holds" if req >= 70 else "does not hold"
        sec.blocks.append(
            f"Here the claim {holds} on data-plane requests ({req:.0f}% saved); on the "
            f"resources the proxies actually use in the simulation, ambient saves {used:.0f}%. "
            "Both views leave out the application itself, which costs the same in every mode, "
            "and istiod, which every mode needs."
        )
    densities = sorted({1, 2, 4, 8, 10, 16, 30, 50, round(density, 1)} - {0})
    sec.blocks.append(
        Table(
            cost.saving_by_density(loaded, densities),
            "Cost model per node, by app pods per node (istiod and waypoints left out). "
            "requests: Kubernetes requests priced; CPU and memory requests also alone. idle "
            "memory: the profile's base memory per proxy (sidecar per pod, ztunnel per node), "
            "before any per-service or per-connection growth.",
        )
    )
    sec.blocks.append(scaling_figure(loaded))
    return sec


def assumptions_section(data: ReportData) -> Section:
    loaded = data.loaded
    sc = loaded.scenario
    prov = {**loaded.provenance(), "meshsim_version": __version__}
    first = next(iter(data.main.comparison.results.values()))
    prov["replications"] = len(first.replications)
    prov["duration_s"] = sc.workload.duration_s
    prov["warmup_s"] = sc.workload.warmup_s
    prov["slo"] = str(data.slo)
    if data.capacities:
        prov["capacity search"] = ", ".join(f"{k}={v}" for k, v in data.search_settings.items())
    node = cost.node_shape(sc)
    prices = [
        f"vCPU-hour: ${sc.cost.usd_per_vcpu_hour:g}; GiB-hour: ${sc.cost.usd_per_gib_hour:g}; "
        f"cross-zone: ${sc.cost.usd_per_cross_zone_gb:g}/GB; {sc.cost.hours_per_month:g} h/month",
        f"node type `{node.name}`: {node.vcpu:g} vCPU, {node.memory_gib:g} GiB, "
        f"${node.usd_per_hour:.4f}/h; allocatable {node.allocatable_cpu_m:g}m CPU and "
        f"{node.allocatable_memory_mib:.0f} MiB",
    ]
    model = [f"{k}: {v}" for k, v in cost.PROVENANCE.items()]
    profile = [f"{k}: {' '.join(str(v).split())}" for k, v in loaded.profile.provenance.items()]
    return Section(
        "Assumptions and provenance",
        [
            Bullets(tuple(f"{k}: `{v}`" for k, v in prov.items())),
            "Prices and nodes (scenario `cost`):",
            Bullets(tuple(prices)),
            "Cost model:",
            Bullets(tuple(model)),
            f"Profile `{loaded.profile.name}` ({loaded.profile_source}):",
            Bullets(tuple(profile)),
            "Figures are predictions of a model calibrated on others' published measurements, "
            "not measurements of your cluster; identical real runs have differed by 1.5x in p90.",
        ],
    )


# --- rendering ---------------------------------------------------------------------------


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.3f}"
    if value is None:
        return "-"
    return str(value)


def to_markdown(sections: list[Section]) -> str:
    out: list[str] = []
    for i, sec in enumerate(sections):
        out.append(("# " if i == 0 else "## ") + sec.title)
        for block in sec.blocks:
            if isinstance(block, str):
                out.append(block)
            elif isinstance(block, Bullets):
                out.append("\n".join(f"- {item}" for item in block.items))
            elif isinstance(block, Table):
                cols = list(block.frame.columns)
                lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
                for _, row in block.frame.iterrows():
                    lines.append("| " + " | ".join(_cell(row[c]) for c in cols) + " |")
                out.append("\n".join(lines))
                if block.caption:
                    out.append(f"*{block.caption}*")
            else:
                out.append(f"![{block.name}]({block.name})\n\n*{block.caption}*")
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #333}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:0.85em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
caption{caption-side:bottom;text-align:left;font-size:0.85em;color:#555;padding-top:4px}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:0.85em;color:#555}code{background:#f3f3f3;padding:0 3px}
"""


def to_html(sections: list[Section]) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(sections[0].title)}</title>",
        f"<style>{_CSS}</style></head><body>",
    ]
    for i, sec in enumerate(sections):
        tag = "h1" if i == 0 else "h2"
        out.append(f"<{tag}>{_inline(sec.title)}</{tag}>")
        for block in sec.blocks:
            if isinstance(block, str):
                out.append(f"<p>{_inline(block)}</p>")
            elif isinstance(block, Bullets):
                items = "".join(f"<li>{_inline(item)}</li>" for item in block.items)
                out.append(f"<ul>{items}</ul>")
            elif isinstance(block, Table):
                cols = list(block.frame.columns)
                head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
                body = "".join(
                    "<tr>"
                    + "".join(f"<td>{html.escape(_cell(row[c]))}</td>" for c in cols)
                    + "</tr>"
                    for _, row in block.frame.iterrows()
                )
                caption = f"<caption>{_inline(block.caption)}</caption>" if block.caption else ""
                out.append(f"<table>{caption}<tr>{head}</tr>{body}</table>")
            else:
                data = base64.b64encode(block.png).decode()
                out.append(
                    f'<figure><img alt="{html.escape(block.name)}" '
                    f'src="data:image/png;base64,{data}">'
                    f"<figcaption>{_inline(block.caption)}</figcaption></figure>"
                )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_report(data: ReportData, out: Path) -> list[Path]:
    """index.html (self-contained), report.md with its PNGs, and the tables as CSV."""
    sections = build(data)
    paths = []
    for sec in sections:
        for block in sec.blocks:
            if isinstance(block, Figure):
                paths.append(write_bytes(out / block.name, block.png))
    prov = {**data.loaded.provenance(), "meshsim_version": __version__, "slo": str(data.slo)}
    paths.append(write_csv(out / "summary.csv", summary_table(data), prov))
    if data.capacities:
        paths.append(write_csv(out / "capacity.csv", data.capacity_table, prov))
        paths.append(write_csv(out / "capacity_points.csv", points_frame(data.capacities), prov))
    paths.append(write_csv(out / "cost_by_kind.csv", cost_kind_table(data.main), prov))
    paths.append(write_text(out / "report.md", to_markdown(sections)))
    paths.append(write_text(out / "index.html", to_html(sections)))
    return paths
