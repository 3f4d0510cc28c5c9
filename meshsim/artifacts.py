"""The files a run or a comparison leaves behind, and the tables it prints."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from meshsim import __version__
from meshsim.loader import LoadedScenario
from meshsim.markdown import markdown_table
from meshsim.output import PROVENANCE_FILE, write_csv, write_json, write_text
from meshsim.results import UNITS, Result
from meshsim.simulate import Comparison


def provenance(result: Result) -> dict[str, Any]:
    engine = result.meta.get("engine", "des")
    symmetry = {"symmetry": result.symmetry} if result.symmetry is not None else {}
    return {
        **result.loaded.provenance(),
        "engine": engine,
        **symmetry,
        "meshsim_version": __version__,
    }


def write_run(result: Result, out: Path) -> list[Path]:
    prov = {**provenance(result), "mode": result.mode}
    paths = [
        write_json(out / "summary.json", result.summary()),
        write_csv(out / "hops.csv", result.hops(), prov),
        write_csv(out / "resources.csv", result.resources(), prov),
        out / PROVENANCE_FILE,
    ]
    series = result.timeseries()
    if series is not None:  # a scenario with events
        paths.append(write_csv(out / "timeseries.csv", series, {**prov, **TIMESERIES_UNITS}))
    return paths


TIMESERIES_UNITS = {
    "units": "t_*_s: s of simulated time; served/failed/retried: requests (attempts for "
    "retried) ending in the window; *_rps: per s; p50/p99_ms: ms, exact, of requests served in "
    "the window; pods_ready: app pods ready at its end; proxies_restarting: proxies draining or "
    "starting at its end; vcpu_KIND: mean cores busy over the window"
}


def comparison_summary(comp: Comparison) -> dict[str, Any]:
    """The document ``compare`` writes as summary.json (and prints with ``--json``)."""
    first = next(iter(comp.results.values()))
    return {
        "meshsim_version": __version__,
        "provenance": {**provenance(first), "modes": list(comp.results)},
        "units": UNITS,
        "latency_added": comp.added_summary(),
        "conclusions": comparison_conclusions(comp),
        "modes": {m: r.summary() for m, r in comp.results.items()},
    }


def write_comparison(comp: Comparison, out: Path) -> list[Path]:
    first = next(iter(comp.results.values()))
    prov = {**provenance(first), "modes": ",".join(comp.results)}
    hops = pd.concat([r.hops().assign(mode=m) for m, r in comp.results.items()])
    res = pd.concat([r.resources().assign(mode=m) for m, r in comp.results.items()])
    return [
        write_csv(out / "compare.csv", comp.table(), prov),
        write_csv(out / "hops.csv", _mode_first(hops), prov),
        write_csv(out / "resources.csv", _mode_first(res), prov),
        out / PROVENANCE_FILE,
        write_json(out / "summary.json", comparison_summary(comp)),
        write_text(out / "report.md", comparison_markdown(comp)),
    ]


def parallel_steps(loaded: LoadedScenario) -> list[str]:
    """The call steps that run in parallel: ``frontend calls backend-a and backend-b``."""
    out = []
    for name, svc in loaded.scenario.services.items():
        for step in svc.calls:
            if len(step) > 1:
                out.append(f"{name} calls {' and '.join(c.service for c in step)}")
    return out


def waterfall_overrun(results: dict[str, Result]) -> str:
    """Why a bar runs past the end-to-end latency, in numbers (or that none does)."""
    over = []
    for mode, result in results.items():
        bar = float(result.hops()["per_request_ms"].sum())
        mean = float(result.latency().loc["mean", "ms"])
        if bar > mean * 1.01:
            over.append(f"{mode} {bar:.2f} ms against {mean:.2f} ms")
    if not over:
        return "No bar runs past the end-to-end latency."
    first = next(iter(results.values()))
    steps = parallel_steps(first.loaded)
    why = (
        "because calls made in parallel overlap in time and each is counted in full ("
        + "; ".join(steps)
        + " in parallel)"
        if steps
        else "though the call graph has no parallel step: read the hop table instead"
    )
    return "Bars run past the end-to-end latency (" + ", ".join(over) + f") {why}."


def _mode_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["mode", *[c for c in frame.columns if c != "mode"]]]


def _fmt(value: object, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(frame: pd.DataFrame) -> str:
    return markdown_table(frame, _fmt)


def run_tables(result: Result) -> str:
    lat = result.latency().reset_index()
    kinds = result.by_kind().reset_index()
    verdict = result.verdict()
    hops = result.hops()[
        [
            "hop",
            "visits_per_request",
            "wait_mean_ms",
            "service_mean_ms",
            "total_p99_ms",
            "per_request_ms",
        ]
    ]
    return "\n\n".join(
        [
            f"mode {result.mode}: {verdict['status']} ({verdict['reason']}; busiest "
            f"{verdict['bottleneck']} at {verdict['bottleneck_utilisation']:.2f})",
            "latency (ms, mean over replications, 95% CI)\n" + lat.to_string(index=False),
            "hops (ms)\n"
            + (hops.to_string(index=False) if len(hops) else "(none: the solve saturated)"),
            "resources by kind\n" + kinds.to_string(index=False),
        ]
    )


def compare_table(comp: Comparison) -> pd.DataFrame:
    """Per mode: the latency percentiles, what each adds over ``none``, throughput, mesh cost."""
    table = comp.table()
    keys = [k for k in next(iter(comp.results.values())).latency_keys if k != "mean"]
    columns = [
        "mode",
        *(f"{k}_ms" for k in keys),
        *(f"added_{k}_ms" for k in keys),
        "throughput_rps",
        "vcpu_mesh",
        "memory_mib_mesh",
        "verdict",
    ]
    shown = table[[c for c in columns if c in table.columns]].copy()
    for key in ("p50", "p99"):
        low, high = f"added_{key}_ci95_low_ms", f"added_{key}_ci95_high_ms"
        if low in table.columns:
            at = shown.columns.get_loc(f"added_{key}_ms") + 1
            shown.insert(
                at,
                f"added_{key}_ci95_ms",
                [_interval(a, b) for a, b in zip(table[low], table[high], strict=True)],
            )
    return shown


def _interval(low: float, high: float) -> str:
    """``[1.41, 1.52]``, or ``n/a`` when one replication gives no interval."""
    if math.isnan(low) or math.isnan(high):
        return "n/a"
    return f"[{low:.3f}, {high:.3f}]"


def added_sentence(comp: Comparison, key: str = "p99") -> str:
    """What each mode adds over ``none`` at one percentile, with its paired interval."""
    if "none" not in comp.results:
        return ""
    parts = []
    for mode in comp.results:
        if mode == "none":
            continue
        mean, low, high = comp.added_intervals(mode)[key]
        ci = "" if math.isnan(low) else f" (95% CI {low:.2f} to {high:.2f})"
        if not math.isnan(low) and f"{low:.2f}" == f"{high:.2f}":  # narrower than shown
            half = (high - low) / 2
            ci = f" (95% CI +-{half:.1g} ms)" if half > 1e-9 else " (the same in every replication)"
        parts.append(f"{mode} {mean:.2f} ms{ci}")
    if not parts:
        return ""
    pairs = min(len(r.replications) for r in comp.results.values())
    how = (
        f"paired over {pairs} replications with common random numbers"
        if pairs > 1
        else "one replication, so no interval: raise sim.replications for one"
    )
    return f"Latency added over no mesh at {key}: " + ", ".join(parts) + f" ({how})."


# Why a column can be the same in every mode (the mesh is on the data path, not in these)
SAME_IN_EVERY_MODE = {
    "throughput_rps": "open-loop arrivals are the same in every mode (common random numbers) "
    "and every request completes, so throughput is the offered rate",
    "money (USD/month)": "it prices the nodes run whole, and every mode's requests fit on the "
    "same nodes (see nodes needed / run); the mesh's cost shows in provisioned and used",
    "nodes needed / run": "every mode's Kubernetes requests fit on the nodes the scenario runs",
    "verdict": "no mode saturates or misses its rate at the workload's rate",
    "vcpu_mesh": "no mode runs a proxy",
    "memory_mib_mesh": "no mode runs a proxy",
}


def same_in_every_mode(frame: pd.DataFrame) -> list[str]:
    """One sentence per column whose value is the same in every row (mode), saying why."""
    if len(frame) < 2:
        return []
    notes = []
    for column in frame.columns:
        if column == "mode" or frame[column].nunique(dropna=False) != 1:
            continue
        why = SAME_IN_EVERY_MODE.get(str(column), "it does not depend on the mesh mode here")
        notes.append(f"`{column}` is the same in every mode: {why}.")
    return notes


def comparison_conclusions(comp: Comparison) -> str:
    """Two or three sentences, in numbers: latency added, mesh CPU and memory, verdicts."""
    sentences = [added_sentence(comp)]
    meshed = {m: r.kind_columns() for m, r in comp.results.items() if m != "none"}
    if meshed:
        cheapest = min(meshed, key=lambda m: meshed[m]["vcpu_mesh"])
        costly = max(meshed, key=lambda m: meshed[m]["vcpu_mesh"])
        sentences.append(
            f"The mesh's proxies use {meshed[cheapest]['vcpu_mesh']:.3f} vCPU and "
            f"{meshed[cheapest]['memory_mib_mesh']:.0f} MiB in {cheapest} mode, "
            f"{meshed[costly]['vcpu_mesh']:.3f} vCPU and "
            f"{meshed[costly]['memory_mib_mesh']:.0f} MiB in {costly} mode."
        )
    bad = {m: r.verdict() for m, r in comp.results.items() if r.verdict()["status"] != "ok"}
    if bad:
        sentences.append(
            "Not trustworthy as a steady state: "
            + "; ".join(f"{m} {v['status']} ({v['reason']})" for m, v in bad.items())
            + "."
        )
    else:
        sentences.append("Every mode drained every replication (no saturation).")
    return " ".join(s for s in sentences if s)


def hop_breakdown(comp: Comparison) -> pd.DataFrame:
    """Where the time goes: ms per request in each kind of hop (rows), per mode (columns)."""
    columns = {
        mode: result.hops().set_index("hop")["per_request_ms"]
        for mode, result in comp.results.items()
    }
    frame = pd.DataFrame(columns).fillna(0.0)
    frame.index.name = "hop (ms per request)"
    return frame


def kind_resources(comp: Comparison) -> pd.DataFrame:
    """vCPU and memory (MiB) per component kind (rows), per mode (columns); kinds no mode
    runs are left out."""
    columns = {mode: pd.Series(result.kind_columns()) for mode, result in comp.results.items()}
    frame = pd.DataFrame(columns)
    frame = frame[(frame != 0).any(axis=1)]
    frame.index.name = "resource"
    return frame


def comparison_markdown(comp: Comparison) -> str:
    first = next(iter(comp.results.values()))
    prov = provenance(first)
    sc = first.loaded.scenario
    parts = [
        f"# meshsim comparison: {sc.name}",
        comparison_conclusions(comp),
        sc.description.strip(),
        "## Latency and mesh resources per mode",
        "Latency in ms (mean of replications); added = over mode `none` with the same "
        "arrivals and app service times (common random numbers); its 95% interval comes from "
        "the paired differences, replication by replication. vCPU = mean cores busy; "
        "memory in MiB; *mesh* = the proxies (sidecars, ztunnels, waypoints, linkerd-proxies, "
        "cilium-envoys) and cilium-agents; Cilium's eBPF and WireGuard/IPsec work is in the "
        "kernel column, as a node's metrics would show it.",
        _table(compare_table(comp)),
        " ".join(same_in_every_mode(compare_table(comp))),
        "## Where the time goes (per request, ms, by hop kind)",
        "`per_request_ms`: time a request spends in that kind of hop, summed over the path. "
        + waterfall_overrun(comp.results),
    ]
    for mode, result in comp.results.items():
        hops = result.hops()[
            ["hop", "visits_per_request", "wait_mean_ms", "service_mean_ms", "per_request_ms"]
        ]
        parts += [f"### {mode}", _table(hops)]
    parts += _symmetry_section(prov.pop("symmetry", None))
    parts += ["## Provenance", "\n".join(f"- {k}: `{v}`" for k, v in prov.items())]
    return "\n\n".join(p for p in parts if p) + "\n"


def _symmetry_section(record: dict[str, Any] | None) -> list[str]:
    """What a symmetric reduction simulated, what it scaled back and what is approximate."""
    if not record:
        return []
    lines = [record.get("statement", "")]
    for key in ("copies_simulated", "copies_total"):
        if key in record:
            lines.append(f"- {key}: {record[key]}")
    if record.get("scaled_fields"):
        lines.append("- scaled back by the reduction: " + "; ".join(record["scaled_fields"]))
    lines += [f"- approximate: {a}" for a in record.get("approximations", ())]
    return ["## Symmetry", "\n".join(line for line in lines if line)]
