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
    from meshsim.simulate import Comparison


def load(path: str | Path, overrides: Sequence[str] = ()) -> LoadedScenario:
    """Read and validate a scenario file, with ``path=value`` overrides (as ``--set``)."""
    from meshsim.loader import load_scenario

    return load_scenario(path, list(overrides))


def change(loaded: LoadedScenario, **sections: dict[str, Any]) -> LoadedScenario:
    """A validated copy with sections merged in: ``change(loaded, mesh={"mode": "ambient"})``."""
    return loaded.replace(**sections)


def simulate(
    loaded: LoadedScenario, replications: int | None = None, progress: Progress | None = None
) -> Result:
    """Every replication of a scenario in its own mode."""
    from meshsim.simulate import simulate as run

    return run(loaded, replications, progress)


def compare(
    loaded: LoadedScenario,
    modes: Iterable[str] = MODES,
    replications: int | None = None,
    progress: Progress | None = None,
) -> Comparison:
    """The same scenario in each mode, with common random numbers."""
    from meshsim.simulate import compare as run

    return run(loaded, modes, replications, progress)  # type: ignore[arg-type]


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
) -> pd.DataFrame:
    """The cross product of ``grid`` (``path=v1,v2``) x replications, written under ``out``."""
    from meshsim.sweep import build_sweep, run_sweep

    spec = build_sweep(target, grid, overrides, replications)
    return run_sweep(spec, Path(out), executor, scheduler, workers, progress)  # type: ignore[arg-type]


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


@dataclass
class Calibration:
    """A fitted calibrator, the profile file it wrote, and its hold-out validation."""

    calibrator: Calibrator
    profile: Path
    validation: pd.DataFrame | None = None
    paths: list[Path] = field(default_factory=list)


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
    progress: Progress | None = None,
) -> Calibration:
    """Fit a profile on the ``fit_on`` points of ``measurements``, write it to ``out``, then
    validate it on the ``holdout`` points (if given) into ``report_dir``."""
    import yaml

    from meshsim.calibrate import Calibrator, FreeParameter
    from meshsim.measurements import load_measurements, select
    from meshsim.output import write_text
    from meshsim.validate import template_for, write_validation
    from meshsim.validate import validate as run_validation

    loaded = load(template, overrides)
    points = load_measurements(list(measurements))
    fit_points = select(points, fit_on)
    parsed = [FreeParameter.parse(f) for f in free] if free else None
    cal = Calibrator(loaded, parsed, tuple(metrics), duration_s, 1, max_evaluations, progress)
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
        chosen = pd.concat([fit_points, select(points, holdout)])
        chosen = chosen.drop_duplicates("point").reset_index(drop=True)
        done.validation = run_validation(fitted, chosen, fit_on, duration_s, 1, progress)
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
    the additive baseline beside them. ``fit_on`` defaults to what the profile records."""
    import yaml

    from meshsim.errors import ScenarioError
    from meshsim.measurements import load_measurements
    from meshsim.measurements import select as choose
    from meshsim.validate import summarise, template_for, write_validation
    from meshsim.validate import validate as run

    profile = Path(profile)
    if not profile.is_file():
        raise ScenarioError("no such profile file", str(profile))
    fitted = template_for(profile, scenario)
    calibration = (yaml.safe_load(profile.read_text()) or {}).get("calibration") or {}
    fit_on = fit_on if fit_on is not None else calibration.get("fit_on")
    points = choose(load_measurements(list(measurements)), select)
    table = run(fitted, points, fit_on, duration_s, 1, progress)
    prov = {**fitted.provenance(), "profile_file": str(profile), "fit_on": fit_on}
    paths = write_validation(table, Path(out), prov)
    return Validation(table, summarise(table, prov), paths)


def _relative(path: str | Path, start: Path) -> str:
    return os.path.relpath(Path(path).resolve(), start.resolve())
