"""A short report from a results directory: markdown table and latency-vs-rate plots per mode.

Every number comes from `records.jsonl`; the report states the spread over repetitions (median
and min-max) because on a shared machine one repetition is not a measurement.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from real_bench.record import RunRecord, atomic_write_text, read_jsonl

MODE_ORDER = ("none", "sidecar", "ambient", "waypoint")
US_PER_MS = 1000.0  # records store us; reports show ms, as meshsim's do


def _group(records: list[RunRecord]) -> dict[tuple[str, float], list[RunRecord]]:
    groups: dict[tuple[str, float], list[RunRecord]] = defaultdict(list)
    for r in records:
        groups[(r.mode, r.requested_qps or 0.0)].append(r)
    return dict(sorted(groups.items(), key=lambda kv: (
        MODE_ORDER.index(kv[0][0]) if kv[0][0] in MODE_ORDER else 9, kv[0][1])))


def _spread(vals: list[float], scale: float = 1.0) -> str:
    vals = [v / scale for v in vals if v is not None]
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1:
        return f"{med:.0f}"
    return f"{med:.0f} ({min(vals):.0f}-{max(vals):.0f})"


def _spread_ms(values_us: list[float]) -> str:
    """Latency cells in ms, as every report in the project shows latency (records keep us)."""
    ms = [v / US_PER_MS for v in values_us]
    med = statistics.median(ms)
    if len(ms) == 1:
        return f"{med:.3f}"
    return f"{med:.3f} ({min(ms):.3f}-{max(ms):.3f})"


def _proxy_cpu(r: RunRecord) -> float | None:
    vals = [c.cpu_millicores for c in r.components
            if c.role in ("sidecar", "ztunnel", "waypoint") and c.cpu_millicores is not None]
    return sum(vals) if vals else None


def markdown_table(records: list[RunRecord]) -> str:
    lines = ["| mode | rps | runs (valid) | achieved rps | p50 (ms) | p90 (ms) | p99 (ms) "
             "| p99.9 (ms) "
             "| proxy CPU mcores (all proxies) | per-proxy mcores | background mcores |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for (mode, rate), rs in _group(records).items():
        per: dict[str, list[float]] = defaultdict(list)
        for r in rs:
            for c in r.components:
                if c.role in ("sidecar", "ztunnel", "waypoint") and c.cpu_millicores is not None:
                    per[c.name].append(c.cpu_millicores)
        per_txt = ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in sorted(per.items()))
        lines.append(
            f"| {mode} | {rate:.0f} | {len(rs)} ({sum(r.validity.valid for r in rs)}) "
            f"| {_spread([r.achieved_qps for r in rs])} "
            f"| {_spread_ms([r.latency.p50_us for r in rs])} "
            f"| {_spread_ms([r.latency.p90_us for r in rs])} "
            f"| {_spread_ms([r.latency.p99_us for r in rs])} "
            f"| {_spread_ms([r.latency.p999_us for r in rs])} "
            f"| {_spread([x for r in rs if (x := _proxy_cpu(r)) is not None])} "
            f"| {per_txt or '-'} "
            f"| {_spread([r.host.background_cpu_millicores or 0.0 for r in rs])} |")
    return "\n".join(lines) + "\n"


def overhead_table(records: list[RunRecord]) -> str:
    """Median latency added by each mode over `none` at the same rate (valid runs only)."""
    med: dict[tuple[str, float], tuple[float, float]] = {}
    for (mode, rate), rs in _group(records).items():
        ok = [r for r in rs if r.validity.valid]
        if ok:
            med[(mode, rate)] = (statistics.median(r.latency.p50_us for r in ok),
                                 statistics.median(r.latency.p99_us for r in ok))
    lines = ["| mode | rps | added p50 (ms) | added p99 (ms) |", "|---|---|---|---|"]
    for (mode, rate), (p50, p99) in med.items():
        base = med.get(("none", rate))
        if mode == "none" or base is None:
            continue
        added50, added99 = (p50 - base[0]) / US_PER_MS, (p99 - base[1]) / US_PER_MS
        lines.append(f"| {mode} | {rate:.0f} | {added50:+.3f} | {added99:+.3f} |")
    return "\n".join(lines) + "\n"


def _short_version(v: str) -> str:
    for tok in v.replace("/", " ").split():
        tok = tok.removeprefix("v")
        if tok[:1].isdigit():
            return tok.split("-")[0]
    return v


def plot_mode(records: list[RunRecord], mode: str, path: Path) -> None:
    """p50/p90/p99 vs requested rate for one mode; one marker per repetition, line = median."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = [r for r in records if r.mode == mode]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for key, color in (("p50_us", "C0"), ("p90_us", "C1"), ("p99_us", "C3")):
        by_rate: dict[float, list[float]] = defaultdict(list)
        for r in rs:
            by_rate[r.requested_qps or 0.0].append(getattr(r.latency, key) / US_PER_MS)
        rates = sorted(by_rate)
        ax.plot(rates, [statistics.median(by_rate[x]) for x in rates], "-", color=color,
                label=key.replace("_us", "") + " (median of reps)")
        for x in rates:
            ax.plot([x] * len(by_rate[x]), by_rate[x], "o", color=color, alpha=0.4, ms=4)
        invalid = [(r.requested_qps, getattr(r.latency, key) / US_PER_MS) for r in rs
                   if not r.validity.valid]
        if invalid:
            ax.plot(*zip(*invalid, strict=True), "x", color="k", ms=7)
    ax.set_yscale("log")
    ax.set_xlabel("requested rate (requests/s)")
    ax.set_ylabel("latency (ms, from intended send time)")
    ax.set_title(f"local backend, mode {mode}: latency vs rate (x = invalid run)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def write_report(results: Path) -> Path:
    records = read_jsonl(results / "records.jsonl")
    if not records:
        from real_bench.errors import BenchError

        raise BenchError(f"{results / 'records.jsonl'}: no records")
    modes = [m for m in MODE_ORDER if any(r.mode == m for r in records)]
    for mode in modes:
        plot_mode(records, mode, results / f"latency-vs-rate-{mode}.png")
    r0 = records[0]
    bg = [r.host.background_cpu_millicores or 0.0 for r in records]
    invalid = [r for r in records if not r.validity.valid]
    warned = [r for r in records if r.validity.warnings]
    rtts = [r.host.network_rtt_us for r in records if r.host.network_rtt_us]
    capacity = 1000 * (r0.host.cores or 0)
    text = f"""# real_bench local run: {len(records)} records

Host: {r0.host.cpu_model}, {r0.host.cores} cores, kernel {r0.host.kernel}.
Tools: {", ".join(f"{k} {_short_version(v)}" for k, v in sorted(r0.tool_versions.items()))}.
Load: {r0.load_generator}; {r0.connections} connections, {r0.payload_bytes} B responses,
{r0.warmup_s:g} s warm-up (excluded) + {r0.duration_s:g} s measured per run, cross-node.
Measured TCP connect time client pod -> server pod (no proxy): median
{statistics.median(rtts) if rtts else float("nan"):.0f} µs (no delay emulated: no tc netem).

Cells are median (min-max) over repetitions. Latency in ms here (the records and table.csv
keep the tools' microseconds, in columns ending in `_us`); it is measured from each request's
intended send time (open loop). Proxy CPU is the sum over the proxies on the path (sidecar:
2 haproxy http; ambient: 2 haproxy tcp "ztunnels"; waypoint: 2 ztunnels + 1 haproxy http
waypoint).
Background = CPU used during the window by all other processes on the machine (it is shared):
median {statistics.median(bg):.0f} mcores, max {max(bg):.0f} mcores of {capacity}.

{markdown_table(records)}
Latency added over `none` at the same rate (median of valid repetitions; noisy where the
background column is high):

{overhead_table(records)}
Invalid runs: {len(invalid)} of {len(records)}{_reasons(invalid)}.
Runs with warnings (noisy background or late generator): {len(warned)}.

Plots: {", ".join(f"[{m}](latency-vs-rate-{m}.png)" for m in modes)}.
"""
    out = results / "REPORT.md"
    atomic_write_text(out, text)
    return out


def _reasons(invalid: list[RunRecord]) -> str:
    if not invalid:
        return ""
    return ": " + "; ".join(f"{r.label}: {', '.join(r.validity.reasons)}" for r in invalid[:12])
