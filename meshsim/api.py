"""The Python API: one function per thing meshsim does, each what one CLI command runs.

    import meshsim
    loaded = meshsim.load("scenarios/quickstart.yaml", ["sim.replications=2"])
    result = meshsim.simulate(meshsim.change(loaded, mesh={"mode": "ambient"}))
    meshsim.compare(loaded, ["none", "sidecar", "ambient"]).table()

Every function imports what it needs when called, so ``import meshsim`` stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshsim.domain import MODES

if TYPE_CHECKING:
    import pandas as pd

    from meshsim.calibrate import Calibrator
    from meshsim.capacity import Capacity, Slo
    from meshsim.loader import LoadedScenario
    from meshsim.progress import Progress
    from meshsim.results import Result
    from meshsim.rollout import Rollout
    from meshsim.simulate import Comparison


def load(path: str | Path, overrides: Sequence[str] = ()) -> LoadedScenario:
    """Read and validate a scenario file, with ``path=value`` overrides (as ``--set``)."""
    from meshsim.loader import load_scenario

    return load_scenario(path, list(overrides))


def change(loaded: LoadedScenario, **sections: dict[str, Any]) -> LoadedScenario:
    """A validated copy with sections merged in: ``change(loaded, mesh={"mode": "ambient"})``."""
    return loaded.replace(**sections)


def simulate(
    loaded: LoadedScenario,
    replications: int | None = None,
    progress: Progress | None = None,
    percentiles: Sequence[float] | None = None,
    engine: str = "des",
    symmetry: str | int = "off",
) -> Result:
    """Every replication of a scenario in its own mode; ``percentiles`` (e.g. 50, 95, 99.9)
    choose the latency columns (default: meshsim.stats.DEFAULT_PERCENTILES). ``engine``:
    ``des`` (the simulation) or ``analytic`` (the queueing-network solution). ``symmetry``:
    ``off``, ``auto`` or a number of copies: a fleet of identical copies simulated as fewer,
    results scaled back (meshsim.symmetry; ``auto`` runs every copy when it cannot)."""
    from meshsim import symmetry as sym
    from meshsim.simulate import simulate as run
    from meshsim.stats import DEFAULT_PERCENTILES

    chosen = tuple(percentiles or DEFAULT_PERCENTILES)
    reduction, why_not = sym.decide(loaded, symmetry, engine)
    if reduction is None:
        result = run(loaded, replications, progress, chosen, engine)
        if why_not:
            result.symmetry = sym.not_reduced(why_not)
        return result
    return sym.scale(run(reduction.reduced, replications, progress, chosen, engine), reduction)


def compare(
    loaded: LoadedScenario,
    modes: Iterable[str] = MODES,
    replications: int | None = None,
    progress: Progress | None = None,
    percentiles: Sequence[float] | None = None,
    engine: str = "des",
    symmetry: str | int = "off",
) -> Comparison:
    """The same scenario in each mode, with common random numbers (``engine`` and
    ``symmetry`` as simulate; one reduction for every mode)."""
    from meshsim import symmetry as sym
    from meshsim.simulate import Comparison
    from meshsim.simulate import compare as run
    from meshsim.stats import DEFAULT_PERCENTILES

    chosen = tuple(percentiles or DEFAULT_PERCENTILES)
    modes = tuple(modes)
    reduction, why_not = sym.decide(loaded, symmetry, engine, modes)
    if reduction is None:
        comp = run(loaded, modes, replications, progress, chosen, engine)  # type: ignore[arg-type]
        for result in comp.results.values():
            result.symmetry = sym.not_reduced(why_not) if why_not else None
        return comp
    comp = run(reduction.reduced, modes, replications, progress, chosen, engine)  # type: ignore[arg-type]
    return Comparison({m: sym.scale(r, reduction) for m, r in comp.results.items()})


def sweep(
    target: str | Path,
    out: str | Path,
    grid: Sequence[str] = (),
    overrides: Sequence[str] = (),
    replications: int | None = None,
    executor: str = "local",
    scheduler: Any = None,
    workers: int | None = None,
    progress: bool = True,
    percentiles: Sequence[float] | None = None,
    limits: Any = None,
    engine: str = "des",
) -> pd.DataFrame:
    """The cross product of ``grid`` (``path=v1,v2``) x replications, written under ``out``;
    refused over ``limits`` (a meshsim.work.Limits; default: its defaults)."""
    from meshsim.stats import DEFAULT_PERCENTILES
    from meshsim.sweep import build_sweep, run_sweep

    chosen = tuple(percentiles or DEFAULT_PERCENTILES)
    spec = build_sweep(target, grid, overrides, replications, chosen)
    return run_sweep(
        spec,
        Path(out),
        executor,
        scheduler,
        workers,
        progress,  # type: ignore[arg-type]
        limits,
        engine=engine,
    )


def capacity(
    loaded: LoadedScenario,
    slo: Slo | str | None = None,
    modes: Iterable[str] = MODES,
    target_rps: float | None = None,
    progress: Progress | None = None,
    **search: Any,
) -> tuple[pd.DataFrame, dict[str, Capacity]]:
    """Per mode, the highest entry rate within ``slo`` (default: the scenario's ``cost.slo``),
    and the nodes and money ``target_rps`` needs."""
    from meshsim.capacity import Slo
    from meshsim.capacity import capacity as run

    slo = slo if isinstance(slo, Slo) else Slo.parse(slo or loaded.scenario.cost.slo)
    return run(loaded, slo, modes, target_rps=target_rps, progress=progress, **search)


def report(
    loaded: LoadedScenario,
    out: str | Path,
    modes: Sequence[str] = MODES,
    slo: Slo | str | None = None,
    progress: Progress | None = None,
    **gather: Any,
) -> list[Path]:
    """index.html, report.md, PNGs and CSVs for every mode of a scenario; the paths written."""
    from meshsim.capacity import Slo
    from meshsim.report import gather as run
    from meshsim.report import write_report

    slo = slo if isinstance(slo, Slo) else Slo.parse(slo or loaded.scenario.cost.slo)
    return write_report(run(loaded, modes, slo, progress=progress, **gather), Path(out))


def rollout(
    loaded: LoadedScenario,
    component: str = "envoy",
    modes: Sequence[str] = ("sidecar", "ambient", "waypoint"),
    replications: int | None = None,
    progress: Progress | None = None,
) -> Rollout:
    """The scenario's rolling update aimed at ``component`` (envoy or ztunnel), in each mode
    with common random numbers: a table, the time series, plots (``.write(out)``)."""
    from meshsim.rollout import rollout as run

    return run(loaded, component, tuple(modes), replications, progress)


@dataclass
class Calibration:
    """A fitted calibrator, the profile file it wrote, and its hold-out validation."""

    calibrator: Calibrator
    profile: Path
    validation: pd.DataFrame | None = None
    paths: list[Path] = field(default_factory=list)
    dropped: pd.DataFrame | None = None


def calibrate(
    template: str | Path,
    measurements: Sequence[str],
    out: str | Path,
    *,
    overrides: Sequence[str] = (),
    fit_on: str | None = None,
    holdout: str | None = None,
    free: Sequence[str] | None = None,
    metrics: Sequence[str] = ("p50", "p90"),
    duration_s: float = 4.0,
    max_evaluations: int = 80,
    name: str | None = None,
    report_dir: str | Path | None = None,
    allow_single_load: bool = False,
    progress: Progress | None = None,
) -> Calibration:
    """Fit a profile on the ``fit_on`` points of ``measurements``, write it to ``out``, then
    validate it on the ``holdout`` points (if given) into ``report_dir``. Selectors are
    meshsim.selectors' grammar, parsed and never run; points left out are in ``dropped``."""
    import yaml

    from meshsim.calibrate import Calibrator, FreeParameter
    from meshsim.measurements import load_points, select
    from meshsim.output import write_text
    from meshsim.validate import dropped_points, measured, template_for, write_validation
    from meshsim.validate import validate as run_validation

    parsed = [FreeParameter.parse(f) for f in free] if free else None
    loaded = load(template, overrides)
    points, invalid = load_points(list(measurements))
    fit_points = select(points, fit_on, "", "--fit-on")
    holdout_points = select(points, holdout, "", "--holdout")  # checked before the fit
    cal = Calibrator(
        loaded,
        parsed,
        tuple(metrics),
        duration_s,
        1,
        max_evaluations,
        progress,
        allow_single_load=allow_single_load,
    )
    cal.fit(fit_points)
    out = Path(out)
    doc = cal.profile(
        name or out.stem,
        _relative(template, out.parent),
        [_relative(m, out.parent) for m in measurements],
        fit_on,
    )
    done = Calibration(cal, write_text(out, yaml.safe_dump(doc, sort_keys=False)))
    if holdout is not None:
        import pandas as pd

        fitted = template_for(out, None)
        chosen = pd.concat([fit_points, holdout_points])
        chosen = chosen.drop_duplicates("point").reset_index(drop=True)
        done.dropped = dropped_points(
            points, chosen, invalid, "not selected by --fit-on or --holdout"
        )
        chosen = chosen[measured(chosen)]
        done.validation = run_validation(
            fitted, chosen, fit_points["point"], duration_s, 1, progress, done.dropped
        )
        prov = {
            **fitted.provenance(),
            "profile_file": str(out),
            "fit_on": fit_on,
            "holdout": holdout,
        }
        folder = Path(report_dir or out.with_suffix(""))
        done.paths = write_validation(done.validation, folder, prov)
    return done


@dataclass
class Validation:
    table: pd.DataFrame
    summary: dict[str, Any]
    paths: list[Path]
    dropped: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def validate(
    profile: str | Path,
    measurements: Sequence[str],
    out: str | Path,
    *,
    scenario: str | None = None,
    select: str | None = None,
    fit_on: str | None = None,
    duration_s: float = 4.0,
    progress: Progress | None = None,
) -> Validation:
    """Simulate every measured point with a profile: errors against the measurements, with
    the additive baseline beside them. The points are ``select``'s (default: every valid
    one). The profile's record of what it was fitted on marks points as fitted only where it
    names them (``fitted_points``); its ``fit_on`` selector is provenance, never a filter."""
    from meshsim import profiles
    from meshsim.errors import ScenarioError
    from meshsim.measurements import load_points
    from meshsim.measurements import select as choose
    from meshsim.validate import dropped_points, measured, summarise, template_for, write_validation
    from meshsim.validate import validate as run

    profile = Path(profile)
    if not profile.is_file():
        raise ScenarioError("no such profile file", str(profile))
    calibration = profiles.calibration_of(profile)
    template = template_for(profile, scenario)
    points, invalid = load_points(list(measurements))
    recorded = calibration.get("fit_on")
    if recorded:  # data from the profile's author: parsed (never run) before any work
        choose(points, recorded, str(profile), "calibration.fit_on")
    chosen = choose(points, select, "", "--select")
    notes = []
    if fit_on is not None:
        fitted = list(choose(points, fit_on, "", "--fit-on")["point"])
    else:
        fitted = list(calibration.get("fitted_points") or [])
        if recorded and not fitted:
            notes.append(
                f"the profile records its fit only as a selector ({recorded!r}), which is "
                "provenance, not applied here: every point counts as held out (give --fit-on "
                "to mark fitted points)"
            )
    dropped = dropped_points(points, chosen, invalid, f"not selected by --select {select!r}")
    chosen = chosen[measured(chosen)]
    table = run(template, chosen, fitted, duration_s, 1, progress, dropped)
    prov = {
        **template.provenance(),
        "profile_file": str(profile),
        "select": select,
        "fit_on_recorded": recorded,
        "fitted_points_marked": sorted(set(fitted) & set(chosen["point"])),
    }
    paths = write_validation(table, Path(out), prov)
    return Validation(table, summarise(table, prov), paths, dropped, notes)


def _relative(path: str | Path, start: Path) -> str:
    return os.path.relpath(Path(path).resolve(), start.resolve())
