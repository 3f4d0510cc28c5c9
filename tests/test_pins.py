"""Every shipped scenario in every mode gives the numbers pinned in tests/pins/.

A change meant to alter no number (a refactoring) must keep every pin. A change meant to
alter numbers regenerates them: ``python tests/pins/make_pins.py``, and says why in its commit.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

PINS_DIR = Path(__file__).with_name("pins")


def _make_pins():
    spec = importlib.util.spec_from_file_location("make_pins", PINS_DIR / "make_pins.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_summaries_match_their_pins() -> None:
    pinned = json.loads((PINS_DIR / "summary-pins.json").read_text())["pins"]
    now = _make_pins().compute()
    assert now.keys() == pinned.keys()
    differ = sorted(k for k in pinned if pinned[k] != now[k])
    assert not differ, f"{len(differ)} of {len(pinned)} pins differ, e.g. {differ[:5]}"


def test_digest_ignores_only_volatile_fields() -> None:
    pins = _make_pins()
    doc = {"meshsim_version": "1", "run": {"wall_time_s": 1.0}, "latency_ms": {"p99": 2.0}}
    same = {"meshsim_version": "2", "run": {"wall_time_s": 9.0}, "latency_ms": {"p99": 2.0}}
    other = {"meshsim_version": "1", "run": {"wall_time_s": 1.0}, "latency_ms": {"p99": 2.0000001}}
    assert pins.digest(doc) == pins.digest(same)
    assert pins.digest(dict(doc)) != pins.digest(other)
