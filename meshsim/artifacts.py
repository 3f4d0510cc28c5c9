"""The files a run or a comparison leaves behind, and the tables it prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from meshsim import __version__
from meshsim.markdown import markdown_table
from meshsim.output import write_csv, write_json, write_text
from meshsim.results import Result
from meshsim.simulate import Comparison


def provenance(result: Result) -> dict[str, Any]:
    engine = result.meta.get("engine", "des")
    return {**result.loaded.provenance(), "engine": engine, "meshsim_version": __version__}


def write_run(result: Result, out: Path) -> list[Path]:
    prov = {**provenance(result), "mode": result.mode}
    return [
        write_json(out / "summary.json", result.summary()),
        write_csv(out / "hops.csv", result.hops(), prov),
        write_csv(out / "resources.csv", result.resources(), prov),
    ]


def write_comparison(comp: Comparison, out: Path) -> list[Path]:
    first = next(iter(comp.results.values()))
    prov = {**provenance(first), "modes": ",".join(comp.results)}
    hops = pd.concat([r.hops().assign(mode=m) for m, r in comp.results.items()])
    res = pd.concat([r.resources().assign(mode=m) for m, r in comp.results.items()])
    summaries = {m: r.summary() for m, r in comp.results.items()}
    return [
        write_csv(out / "compare.csv", comp.table(), prov),
        write_csv(out / "hops.csv", _mode_first(hops), prov),
        write_csv(out / "resources.csv", _mode_first(res), prov),
        write_json(out / "summary.json", {"meshsim_version": __version__, "modes": summaries}),
        write_text(out / "report.md", comparison_markdown(comp)),
    ]


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
            "hops (ms)\n" + hops.to_string(index=False),
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
    return table[[c for c in columns if c in table.columns]]


def comparison_markdown(comp: Comparison) -> str:
    first = next(iter(comp.results.values()))
    prov = provenance(first)
    sc = first.loaded.scenario
    parts = [
        f"# meshsim comparison: {sc.name}",
        sc.description.strip(),
        "## Latency and mesh resources per mode",
        "Latency in ms (mean of replications); added = over mode `none` with the same "
        "arrivals and app service times (common random numbers). vCPU = mean cores busy; "
        "memory in MiB; *mesh* = sidecars + ztunnels + waypoints.",
        _table(compare_table(comp)),
        "## Where the time goes (per request, ms, by hop kind)",
        "`per_request_ms`: time a request spends in that kind of hop, summed over the path "
        "(parallel calls overlap, so the sum can exceed the end-to-end latency).",
    ]
    for mode, result in comp.results.items():
        hops = result.hops()[
            ["hop", "visits_per_request", "wait_mean_ms", "service_mean_ms", "per_request_ms"]
        ]
        parts += [f"### {mode}", _table(hops)]
    parts += ["## Provenance", "\n".join(f"- {k}: `{v}`" for k, v in prov.items())]
    return "\n\n".join(p for p in parts if p) + "\n"
