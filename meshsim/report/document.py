"""The report, section by section, and the files it writes (index.html, report.md, CSV)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from meshsim import __version__, cost
from meshsim.artifacts import added_sentence, same_in_every_mode
from meshsim.capacity import points_frame
from meshsim.density import pods_per_node_for_saving, saving_by_density
from meshsim.output import PROVENANCE_FILE, write_bytes, write_csv, write_text
from meshsim.report.gather import ReportData
from meshsim.report.plots import (
    cost_figure,
    latency_load_figure,
    percentile_figure,
    scaling_figure,
    scenario_density,
    waterfall_figure,
)
from meshsim.report.render import Bullets, Figure, Section, Table, to_html, to_markdown
from meshsim.report.tables import (
    cost_kind_table,
    per_call_table,
    profiles_table,
    saving_table,
    summary_table,
)
from meshsim.report.upgrading import upgrading_section


def build(data: ReportData) -> list[Section]:
    loaded, sc = data.loaded, data.loaded.scenario
    main = data.main
    modes = list(main.comparison.results)
    first = next(iter(main.comparison.results.values()))
    reps = len(first.replications)
    rate = cost.workload_rate_rps(sc)
    sections: list[Section] = []

    intro = Section(f"meshsim report: {sc.name}")
    intro.blocks.append(conclusions(data))
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
            "arrivals). mesh vCPU / memory used: the simulated proxies (sidecars, ztunnels, "
            "waypoints, linkerd-proxies, cilium-envoys) and cilium-agents, plus the modelled "
            "control plane (istiod, or Linkerd's); Cilium's eBPF and encryption CPU is kernel "
            "CPU, not here. requests: Kubernetes requests of everything deployed. "
            "provisioned: those requests priced per vCPU-hour and GiB-hour. money: the nodes "
            "run (the scenario's, or more if the requests need more) priced whole, plus "
            "cross-zone traffic. max rate: highest entry rate meeting the SLO (capacity search).",
        )
    )
    summary.blocks.extend(same_in_every_mode(summary_table(data)))
    if data.capacities:
        summary.blocks.append(
            Table(
                _capacity_display(data.capacity_table),
                f"Capacity within {data.slo}: headroom is over the workload's rate; nodes and "
                "money for a target rate scale the simulated cluster linearly. "
                + _capacity_precision(data),
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
                        "the claim: the field's figures (a talk on ambient mesh, made into the "
                        "profile meshsim/profile_data/seed-claims.yaml). Per call: simulated at "
                        "the workload's rate, time "
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
            [
                waterfall_figure(main),
                percentile_figure(main),
                Table(per_call_table(main), _PER_CALL_CAPTION),
            ],
        )
    )
    sections.append(
        Section(
            "Cost per component kind",
            [cost_figure(main), Table(cost_kind_table(main), "Per mode and kind; vCPU, GiB.")],
        )
    )
    sections.append(saving_section(data))
    sections.append(upgrading_section(main))
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


def conclusions(data: ReportData) -> str:
    """The report's opening: two or three sentences, in numbers."""
    comp = data.main.comparison
    sentences = [added_sentence(comp)]
    costs = {m: e.summary()["provisioned_usd_month"] for m, e in data.main.costs.items()}
    meshed = {m: v for m, v in costs.items() if m != "none"}
    if meshed:
        cheapest = min(meshed, key=meshed.__getitem__)
        base = f" against ${costs['none']:.2f} with no mesh" if "none" in costs else ""
        sentences.append(
            "Provisioned (Kubernetes requests priced, USD/month): "
            + ", ".join(f"{m} ${v:.2f}" for m, v in meshed.items())
            + f"{base}; {cheapest} is the cheapest mesh."
        )
    if data.capacities:
        table = data.capacity_table.set_index("mode")
        parts = []
        for mode in table.index:
            text = f"{mode} {float(table.loc[mode, 'max_rate_rps']):,.0f}"
            if "max_rate_mean_rps" in table.columns:
                mean, low, high = table.loc[
                    mode, ["max_rate_mean_rps", "max_rate_ci95_low_rps", "max_rate_ci95_high_rps"]
                ]
                text = f"{mode} {mean:,.0f} (95% CI {low:,.0f} to {high:,.0f})"
                if table.loc[mode, "seed_spread_pct"] == 0:
                    text = f"{mode} {mean:,.0f} (the same for every seed)"
            parts.append(text)
        seeds = int(table["seeds"].iloc[0]) if "seeds" in table.columns else 1
        sentences.append(
            f"Highest entry rate within {data.slo}, requests/s: "
            + ", ".join(parts)
            + (
                f" (mean across {seeds} seeds; the tables give the first seed's answer)."
                if seeds > 1
                else " (one seed: no interval)."
            )
        )
    return " ".join(s for s in sentences if s)


def _capacity_precision(data: ReportData) -> str:
    """The search's tolerance against the answer's seed-to-seed spread."""
    table = data.capacity_table
    tol = data.search_settings["relative_tolerance"] * 100
    if "precision" not in table.columns:
        return (
            f"The search stops within {tol:g}% of the answer for one seed; the spread across "
            "seeds is not measured here (run `meshsim capacity --replications N`)."
        )
    return " ".join(
        f"{m}: {note}." for m, note in zip(table["mode"], table["precision"], strict=True)
    )


def _capacity_display(table: pd.DataFrame) -> pd.DataFrame:
    cols = {
        "mode": "mode",
        "max_rate_rps": "max rate (rps)",
        "max_rate_mean_rps": "mean across seeds (rps)",
        "max_rate_ci95_low_rps": "95% CI low (rps)",
        "max_rate_ci95_high_rps": "95% CI high (rps)",
        "seed_spread_pct": "seed spread (%)",
        "first_failing_rps": "first failing (rps)",
        "limited_by": "limited by",
        "bottleneck": "busiest component there",
        "headroom_pct": "headroom (%)",
        "target_rate_rps": "target (rps)",
        "nodes_for_target": "nodes for target",
        "usd_month_for_target": "USD/month for target",
    }
    return table[[c for c in cols if c in table.columns]].rename(columns=cols)


def saving_section(data: ReportData) -> Section:
    loaded = data.loaded
    sec = Section("The ~75% claim: shared per-node proxies against sidecars")
    table = saving_table(data.main)
    density = scenario_density(loaded)
    at75 = pods_per_node_for_saving(loaded, 0.75)
    p, z = loaded.params.sidecar, loaded.params.ztunnel
    even = pods_per_node_for_saving(loaded, 0.0)
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
            saving_by_density(loaded, densities),
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
    paths.append(out / PROVENANCE_FILE)
    paths.append(write_text(out / "report.md", to_markdown(sections)))
    paths.append(write_text(out / "index.html", to_html(sections)))
    return paths
