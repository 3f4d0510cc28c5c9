"""The public API: one import, the names it promises, typed scenario changes, estimators that
keep their settings."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import meshsim
from meshsim import profiles
from meshsim.calibrate import Calibrator, FreeParameter
from meshsim.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
MM1 = ROOT / "scenarios" / "mm1.yaml"
SHORT = ["sim.replications=1", "workload.duration_s=2", "workload.warmup_s=0.5"]


def test_every_api_name_is_a_function_even_after_its_submodule_is_imported() -> None:
    importlib.import_module("meshsim.report")  # a submodule named as an API function
    from meshsim.simulate import compare  # noqa: F401

    for name in ("load", "change", "simulate", "compare", "sweep", "calibrate", "validate",
                 "capacity", "report"):  # fmt: skip
        assert callable(getattr(meshsim, name)) and getattr(meshsim, name).__module__ == (
            "meshsim.api"
        ), name


@pytest.mark.parametrize(
    "code",
    [
        "import meshsim",
        "import meshsim.cli",
        "from meshsim.cli import main; main(['check', 'scenarios/quickstart.yaml'])",
    ],
)
def test_start_up_loads_no_heavy_library(code: str) -> None:
    """``meshsim --help`` and ``meshsim check`` import none of the libraries a run needs."""
    heavy = "{'pandas', 'scipy', 'matplotlib', 'numpy', 'simpy', 'tqdm'}"
    probe = f"{code}\nimport sys; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_replace_equals_with_changes_bit_for_bit_and_reads_no_file(monkeypatch) -> None:
    loaded = meshsim.load(MM1, SHORT)
    by_string = meshsim.simulate(loaded.with_changes("mesh.mode=ambient", "sim.seed=9"))

    def no_reading(*_args, **_kwargs):
        raise AssertionError("replace read a profile")

    monkeypatch.setattr(profiles, "profile_source", no_reading)
    typed = meshsim.change(loaded, mesh={"mode": "ambient"}, sim={"seed": 9})
    assert typed.overrides == (*SHORT, "mesh.mode=ambient", "sim.seed=9")
    a, b = meshsim.simulate(typed).summary(), by_string.summary()
    a["run"].pop("wall_time_s")
    b["run"].pop("wall_time_s")
    assert a == b


def test_replace_validates_like_a_file() -> None:
    loaded = meshsim.load(MM1, SHORT)
    with pytest.raises(ScenarioError, match=r"mesh\.mode"):
        loaded.replace(mesh={"mode": "kuma"})
    with pytest.raises(ScenarioError, match="no section"):
        loaded.replace(meshh={"mode": "ambient"})
    assert loaded.scenario.mesh.mode == "none"  # the original is untouched


class _Analytic(Calibrator):
    """A calibrator whose model is a formula (p50 = x / 100), so a fit takes milliseconds."""

    def predict(self, values: dict[str, float], points: pd.DataFrame) -> list[dict[str, float]]:
        return [{"p50": values["x"] / 100 * (i + 1)} for i in range(len(points))]


def test_fit_keeps_its_settings_and_is_repeatable() -> None:
    template = meshsim.load(MM1, SHORT)
    points = pd.DataFrame({"point": ["a", "b"], "p50": [2.0, 4.0]})
    free = [FreeParameter("x", ("params.sidecar.request_cpu_us",), 1.0, 1000.0)]
    cal = _Analytic(template, free, ("p50",), max_evaluations=30)
    first = cal.fit(points).values_["x"]
    assert cal.max_evaluations == 30
    assert cal.fit(points).values_["x"] == first
    assert first == pytest.approx(200.0, rel=1e-3)
