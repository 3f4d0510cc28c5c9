"""The numbers of a report: every mode at the workload's rate, its capacity, and its cost.

Three sources, each named where the report shows it: the simulation at the workload's rate
(``simulate.compare``), the capacity search (``capacity.capacity``, the same per-mode loop
``meshsim capacity`` runs) and the cost model (``cost.estimate``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from meshsim import cost
from meshsim.capacity import Capacity, Slo
from meshsim.capacity import capacity as search_capacity
from meshsim.domain import MODES
from meshsim.loader import LoadedScenario
from meshsim.progress import Progress
from meshsim.simulate import Comparison, compare


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
    engine: str = "des",
) -> ProfileRun:
    comparison = compare(loaded, modes, replications, progress, engine=engine)
    costs = {mode: cost.estimate(r.loaded, r) for mode, r in comparison.results.items()}
    return ProfileRun(loaded.profile.name, comparison, costs)


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
    capacity_seeds: int = 3,
    progress: Progress | None = None,
    engine: str = "des",
    workers: int | None = None,
) -> ReportData:
    """Simulate every mode at the workload's rate, search each mode's capacity (its DES runs on
    ``workers`` processes, None: one a core; the same answers), price it
    (``engine="analytic"``: solve them all analytically instead)."""
    slo = Slo.parse(slo or loaded.scenario.cost.slo) if not isinstance(slo, Slo) else slo
    main = run_profile(loaded, modes, replications, progress, engine)
    caps: dict[str, Capacity] = {}
    table = pd.DataFrame()
    if capacity:
        table, caps = search_capacity(
            loaded,
            slo,
            modes,
            progress=progress,
            requests_per_point=requests_per_point,
            rel_tol=rel_tol,
            seeds=capacity_seeds,
            engine=engine,
            workers=workers,
        )
    others = [
        run_profile(
            loaded.with_changes(f"mesh.profile={name}"), modes, replications, progress, engine
        )
        for name in other_profiles
    ]
    settings = {
        "requests_per_point": requests_per_point,
        "replications_per_point": 1,
        "seeds": capacity_seeds,
        "relative_tolerance": rel_tol,
        "engine": engine,
    }
    return ReportData(loaded, slo, main, caps, table, others, settings)
