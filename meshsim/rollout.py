"""``meshsim rollout``: the same upgrade in each mesh mode, side by side, over time.

The scenario's ``rolling_update`` events are pointed at one component kind (``envoy`` or
``ztunnel``) and the scenario is simulated in each mode with the same seed and named streams
(common random numbers: the same arrivals, service times and pod start-up times). Out come a
table (one row per mode), the per-window time series of every mode, and plots of latency,
errors and ready capacity over time.

The DES simulates every pod it is given: for a fleet (thousands of pods) give it a
representative share (a few Deployments, a few nodes) and scale what scales: a rollout's
duration grows with the pods per Deployment (rounds of ``maxSurge + maxUnavailable``) and the
Deployments updated one after another, and a ztunnel rollout with the nodes (one at a time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from meshsim import __version__
from meshsim.errors import ScenarioError
from meshsim.events import RollingUpdate
from meshsim.loader import LoadedScenario
from meshsim.markdown import markdown_table
from meshsim.output import write_bytes, write_csv, write_json, write_text
from meshsim.progress import Progress
from meshsim.results import Result
from meshsim.simulate import simulate

COMPONENTS = ("envoy", "ztunnel")
TABLE_UNITS = (
    "duration_s/settled_s: s from the first event until every new pod is ready / the last "
    "replaced instance is gone (blank: still draining at the end of the run); counts per run; "
    "p99 in ms of requests served per time-series window; ready capacity in % of replicas"
)


def aimed(loaded: LoadedScenario, component: str) -> LoadedScenario:
    """The scenario with every rolling update of a proxy pointed at ``component``."""
    updates = [
        i
        for i, event in enumerate(loaded.scenario.events)
        if isinstance(event, RollingUpdate) and event.component != "app"
    ]
    if not updates:
        raise ScenarioError(
            "no rolling_update of envoy or ztunnel to run (add one under events:)",
            str(loaded.source),
            field="events",
        )
    return loaded.with_changes(*(f"events.{i}.component={component}" for i in updates))


def rollout_row(block: dict[str, Any]) -> dict[str, Any]:
    """The columns of one mode's row in a rollout table, from its summary's ``rollout`` block."""
    return {
        "duration_s": block["duration_s"],
        "settled_s": block["settled_s"],
        "app_pods_restarted": block["app_pods_restarted"],
        "proxies_restarted": sum(block["proxies_restarted"].values()),
        "requests_failed": block["requests_failed"],
        "attempts_retried": block["attempts"]["retried"],
        "p99_before_ms": block["median_window_p99_before_ms"],
        "worst_window_p99_ms": block["worst_window_p99_ms"],
        "lowest_ready_pct": block["lowest_ready_pct"],
    }


@dataclass
class Rollout:
    """One upgrade simulated in several modes."""

    component: str
    results: dict[str, Result]

    def table(self) -> pd.DataFrame:
        rows = []
        for mode, result in self.results.items():
            block = result.summary()["rollout"]
            series = result.timeseries()
            assert series is not None
            during = series[series["rollout_active"] > 0] if "rollout_active" in series else series
            rows.append(
                {
                    "mode": mode,
                    "component": self.component,
                    **rollout_row(block),
                    "lowest_throughput_rps": (
                        float(during["throughput_rps"].min()) if len(during) else math.nan
                    ),
                }
            )
        return pd.DataFrame(rows)

    def timeseries(self) -> pd.DataFrame:
        frames = []
        for mode, result in self.results.items():
            series = result.timeseries()
            assert series is not None
            frames.append(series.assign(mode=mode))
        return pd.concat(frames, ignore_index=True)

    def provenance(self) -> dict[str, Any]:
        first = next(iter(self.results.values()))
        return {
            **first.loaded.provenance(),
            "meshsim_version": __version__,
            "modes": ",".join(self.results),
            "component": self.component,
        }

    def figure(self) -> Any:
        """p99, errors and ready capacity over time, one line per mode."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 7.5))
        axes = fig.subplots(3, 1, sharex=True)
        series = self.timeseries()
        for mode, group in series.groupby("mode", sort=False):
            g = group[group["replication"] == 0]
            t = (g["t_start_s"] + g["t_end_s"]) / 2
            axes[0].plot(t, g["p99_ms"], label=str(mode))
            (line,) = axes[1].plot(t, g["errors_rps"], label=str(mode))
            width = g["t_end_s"] - g["t_start_s"]
            axes[1].plot(t, g["retried"] / width, ls="--", color=line.get_color())
            axes[2].plot(t, g["pods_ready_pct"], label=str(mode))
        start = next(iter(self.results.values())).summary()["rollout"]["started_s"]
        for ax, label in zip(
            axes,
            ["p99 per window, ms", "failed, retried (--) per s", "app pods ready, %"],
            strict=True,
        ):
            ax.set_ylabel(label)
            if start is not None:
                ax.axvline(start, color="grey", lw=0.8, ls=":")
            ax.grid(alpha=0.3)
        axes[0].legend(loc="upper right")
        axes[2].set_xlabel("simulated time, s (dotted: the rollout starts; replication 0)")
        fig.suptitle(f"A rolling update of {self.component}, per mode")
        return fig

    def markdown(self) -> str:
        table = self.table()
        return (
            f"# Rolling update of {self.component}\n\n"
            + markdown_table(table, _cell)
            + f"\n\nUnits: {TABLE_UNITS}.\n\n![over time](rollout.png)\n"
        )

    def summary(self) -> dict[str, Any]:
        """What ``rollout`` writes as summary.json (and prints with ``--json``)."""
        return {
            "meshsim_version": __version__,
            "provenance": self.provenance(),
            "modes": {m: r.summary() for m, r in self.results.items()},
        }

    def write(self, out: Path) -> list[Path]:
        import io

        prov = self.provenance()
        buf = io.BytesIO()
        self.figure().savefig(buf, format="png", dpi=110, bbox_inches="tight")
        return [
            write_csv(out / "rollout.csv", self.table(), {**prov, "units": TABLE_UNITS}),
            write_csv(out / "timeseries.csv", self.timeseries(), prov),
            write_json(out / "summary.json", self.summary()),
            write_bytes(out / "rollout.png", buf.getvalue()),
            write_text(out / "report.md", self.markdown()),
        ]


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def rollout(
    loaded: LoadedScenario,
    component: str,
    modes: tuple[str, ...],
    replications: int | None = None,
    progress: Progress | None = None,
) -> Rollout:
    """The scenario's rolling update of ``component`` in each mode, common random numbers."""
    target = aimed(loaded, component)
    results = {}
    for mode in modes:
        results[mode] = simulate(target.replace(mesh={"mode": mode}), replications, progress)
    return Rollout(component, results)
