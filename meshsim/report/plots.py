"""The report's figures, in one style: matplotlib's object API (no pyplot state), Agg, PNG.

Every figure is drawn on a ``new_figure`` and turned into PNG bytes by ``png``; colours per
mode, component kind and hop kind are ``COLOURS``. Nothing here computes a number the tables
do not show.
"""

from __future__ import annotations

import io
import math
from typing import Any

from meshsim import cost
from meshsim.artifacts import waterfall_overrun
from meshsim.capacity import points_frame
from meshsim.components import namespace_scope, proxy_memory_mib
from meshsim.density import (
    ambient_saving,
    mesh_requests_per_node,
    pods_per_node_for_saving,
    priced_usd_hour,
    sidecar_memory_mib,
)
from meshsim.domain import Hop
from meshsim.loader import LoadedScenario
from meshsim.report.gather import ProfileRun, ReportData
from meshsim.report.render import Figure
from meshsim.report.tables import COST_KINDS
from meshsim.results import Result

COLOURS = {
    "none": "#7f7f7f",
    "sidecar": "#d62728",
    "ambient": "#1f77b4",
    "waypoint": "#9467bd",
    "linkerd": "#e377c2",
    "cilium": "#2ca02c",
    "linkerd-proxy": "#e377c2",
    "linkerd-control": "#f7b6d2",
    "cilium-envoy": "#98df8a",
    "cilium-agent": "#637939",
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
    "linkerd_out": "#e377c2",
    "linkerd_in": "#f7b6d2",
    "cilium_envoy": "#98df8a",
    "cilium_ebpf": "#2ca02c",
    "node_encryption": "#8c564b",
}


def new_figure(**kwargs: Any) -> Any:
    """An empty matplotlib Figure (object API: no pyplot state, safe in any thread)."""
    from matplotlib.figure import Figure as MplFigure

    return MplFigure(**kwargs)


def png(fig: Any) -> bytes:
    """The figure as PNG bytes, trimmed to what is drawn."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def latency_load_figure(data: ReportData) -> Figure:
    fig = new_figure(figsize=(8, 4.5))
    ax = fig.subplots()
    frame = points_frame(data.capacities)
    top = data.slo.threshold_ms * 3
    for mode, group in frame.groupby("mode", sort=False):
        g = group.sort_values("rate_rps")
        whole = g[~g["stopped_early"]]
        y = whole["value_ms"].where(whole["status"] == "ok").clip(upper=top)
        colour = COLOURS.get(str(mode))
        ax.plot(whole["rate_rps"], y, "-o", color=colour, label=str(mode), ms=4)
        part = g[g["stopped_early"] & (g["status"] == "ok")]
        ax.plot(part["rate_rps"], part["value_ms"].clip(upper=top), "o", color=colour, mfc="none")
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
        "its top edge; x marks a saturated run, a hollow circle a run stopped once it certainly "
        "missed the objective (the value of its part run)."
    )
    return Figure("latency_vs_load.png", png(fig), caption)


def waterfall_figure(run: ProfileRun) -> Figure:
    results = run.comparison.results
    fig = new_figure(figsize=(9, 0.8 + 0.7 * len(results)))
    draw_waterfall(fig.subplots(), results)
    caption = (
        "Mean time per root request in each kind of hop (`Result.hops()` per_request_ms): "
        "queueing plus service, summed over every call on the path, in path order (outbound "
        "proxy, kernel, network, waypoint, inbound proxy, app); | marks the mean end-to-end "
        "latency. " + waterfall_overrun(run.comparison.results)
    )
    return Figure("waterfall.png", png(fig), caption)


def percentile_figure(run: ProfileRun) -> Figure:
    """The latency percentile spectrum per mode, as fortio and wrk2 draw it: x is
    1/(1-percentile) on a log scale, so the tail gets as much room as the median."""
    from meshsim.export import percentile_spectrum

    fig = new_figure(figsize=(8, 4.2))
    ax = fig.subplots()
    top = 0.0
    for mode, result in run.comparison.results.items():
        ps, ms = percentile_spectrum(result)
        xs = [1 / (1 - p / 100) for p in ps]
        top = max(top, xs[-1])
        ax.plot(xs, ms, "-", color=COLOURS.get(mode), label=mode, lw=1.6)
    ax.set_xscale("log")
    ticks = [t for t in (1, 2, 10, 100, 1000, 10000, 100000) if t <= top * 1.01]
    labels = {
        1: "0%",
        2: "50%",
        10: "90%",
        100: "99%",
        1000: "99.9%",
        10000: "99.99%",
        100000: "99.999%",
    }
    ax.set_xticks(ticks, [labels[t] for t in ticks])
    ax.set_xlabel("percentile (log scale of 1/(1-percentile))")
    ax.set_ylabel("end-to-end latency (ms)")
    ax.set_title("Latency by percentile, per mode")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    n = min(r.pooled_latency().count for r in run.comparison.results.values())
    caption = (
        "Latency percentile spectrum (as fortio and wrk2 plot it) of every mode's requests "
        f"pooled over replications (at least {n:,} requests per mode; percentiles beyond "
        "1 - 1/requests are not drawn). `meshsim run --fortio-json` and `--hgrm` export the "
        "same distribution for fortio's UI and HdrHistogram's plotter."
    )
    return Figure("percentiles.png", png(fig), caption)


def draw_waterfall(ax: Any, results: dict[str, Result]) -> None:
    """One bar per mode: the mean time per request in each hop kind, laid end to end in
    path order, and the mean end-to-end latency as a tick (the report's and the notebook's)."""
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


def cost_figure(run: ProfileRun) -> Figure:
    fig = new_figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2, sharey=False)
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
                values = [
                    float(run.costs[m].by_kind[f"{what}_usd_month"].get(kind, 0.0)) for m in modes
                ]
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
    return Figure("cost_by_kind.png", png(fig), caption)


def data_price(run: ProfileRun) -> str:
    sc = next(iter(run.comparison.results.values())).loaded.scenario
    return f"{sc.cost.usd_per_vcpu_hour:g} / ${sc.cost.usd_per_gib_hour:g}"


_PATH = (Hop.SIDECAR_OUT, Hop.ZTUNNEL_OUT, Hop.ZTUNNEL_LOCAL, Hop.KERNEL, Hop.EBPF, Hop.NETWORK)
_PATH = (*_PATH, Hop.WAYPOINT)
_PATH_END = (Hop.ZTUNNEL_IN, Hop.SIDECAR_IN, Hop.APP)


def _path_order(hop: str) -> float:
    """Hop kinds in the order a request meets them; unknown kinds just before the app."""
    order = [*_PATH, *_PATH_END]
    return order.index(hop) if hop in order else len(_PATH) + 0.5


def scenario_density(loaded: LoadedScenario) -> float:
    """App pods per node in the scenario as written."""
    pods = sum(s.replicas for s in loaded.scenario.services.values())
    return pods / len(loaded.scenario.cluster.node_names())


def scaling_figure(loaded: LoadedScenario) -> Figure:
    fig = new_figure(figsize=(13, 4.2), layout="constrained")
    axes = fig.subplots(1, 3)
    hours = loaded.scenario.cost.hours_per_month
    density = scenario_density(loaded)
    ppn = list(range(1, 61))
    side = [
        priced_usd_hour(loaded, *mesh_requests_per_node(loaded, p)["sidecar"]) * hours for p in ppn
    ]
    amb = priced_usd_hour(loaded, *mesh_requests_per_node(loaded, 1)["ambient"]) * hours
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
    saving = [ambient_saving(loaded, p) * 100 for p in ppn]
    ax.plot(ppn, saving, color="black")
    ax.axhline(75, color=COLOURS["istiod"], ls="--", label="the claim: 75% lower")
    ax.axhline(0, color="grey", lw=0.8)
    at75 = pods_per_node_for_saving(loaded, 0.75)
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
            [pods * sidecar_memory_mib(loaded, n, 0) for n in services],
            color=COLOURS["sidecar"],
            ls=style,
            label=f"sidecars, {pods} pods/node",
        )
    scoped = _scoped_visible(loaded)
    ax.plot(
        services,
        [10 * sidecar_memory_mib(loaded, scoped, 0)] * len(services),
        color="#ff9896",
        ls="--",
        label=f"sidecars, 10 pods/node, namespace scope ({scoped} visible)",
    )
    ax.plot(
        services,
        [proxy_memory_mib(zt, n * mean_replicas, 0) for n in services],
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
    return Figure("scaling.png", png(fig), caption)


def _scoped_visible(loaded: LoadedScenario) -> int:
    """Mean services a sidecar sees with namespace scope, in this scenario (at least 1)."""
    sc = loaded.scenario
    counts = [namespace_scope(sc, name) for name in sc.services]
    return max(1, round(sum(counts) / len(counts)))
