from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
SHARED = ROOT.parent / "shared"


@pytest.fixture
def scenarios() -> Path:
    return SCENARIOS


def meshsim_cmd() -> list[str]:
    return [sys.executable, "-m", "meshsim.cli"]
