"""The report's "Upgrading" section: what the scenario's events (a rollout, a node failure, a
configuration push) did in each mode, from the same runs as the rest of the report."""

from __future__ import annotations

import pandas as pd

from meshsim.report.gather import ProfileRun
from meshsim.report.render import Section, Table
from meshsim.rollout import rollout_row

CAPTION = (
    "Per mode, the scenario's events as simulated in the runs above (common random numbers). "
    "duration: s from the first event until every new pod is ready; settled: until the last "
    "replaced instance is gone ('-': still draining when the run ended). Pods and proxies "
    "restarted, requests failed (ended in an error) and attempts retried by a caller's Envoy, "
    "over the run. p99 in ms per time-series window: the median before the events and the "
    "worst while they ran. Ready capacity: the lowest share of any Deployment's replicas ready, "
    "%. Run `meshsim rollout SCENARIO --component envoy|ztunnel` for the same upgrade aimed at "
    "each proxy kind, with plots over time."
)


def upgrading_table(run: ProfileRun) -> pd.DataFrame | None:
    rows = []
    for mode, result in run.comparison.results.items():
        block = result.summary().get("rollout")
        if block is None:
            return None
        rows.append({"mode": mode, **rollout_row(block)})
    return pd.DataFrame(rows)


def upgrading_section(run: ProfileRun) -> Section:
    sec = Section("Upgrading")
    table = upgrading_table(run)
    if table is None:
        sec.blocks.append(
            "The scenario has no `events:`, so nothing was upgraded. Add a `rolling_update` "
            "(see `scenarios/cve-rollout.yaml`) to see what an Envoy or ztunnel CVE costs each "
            "mode: pods restarted, requests failed and retried, latency and capacity over time."
        )
        return sec
    events = ", ".join(
        f"{e.type} at {e.at_s:g} s" + (f" ({e.component})" if hasattr(e, "component") else "")
        for e in next(iter(run.comparison.results.values())).loaded.scenario.events
    )
    sec.blocks.append(f"Events: {events}.")
    sec.blocks.append(Table(table, CAPTION))
    return sec
