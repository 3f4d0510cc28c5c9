"""meshsim: what a service mesh adds to latency and what it costs, before you roll one out.

The public API (``meshsim.api``, loaded on first use so ``import meshsim`` stays cheap)::

    load  change  simulate  compare  rollout  sweep  calibrate  validate  capacity  report

The layers, each importing only from itself and those above it (``tests/test_layers.py``
checks this, and that there are no import cycles)::

    domain, errors, random, pool, stats, output, progress, markdown, selectors, outdir,
    safe_yaml, quantity
      |     words and units; tools that know no domain model; bounded readers and writers
    distributions, slo, events, scenario, fleet, profiles, loader, changes, work
      |     the input language: scenario YAML, validated and expanded, with its profile;
      |     the work a scenario asks for, estimated before anything runs
    topology, balancing
      |     pods placed on nodes, the path each mode builds for a call, who picks which pod
    components
      |     the component cost model: CPU per message, memory, requests, visible config
    recorder, calls, engine, operations  |  analytic, lockstep
      |     the SimPy model (calls: one state machine per call; operations: events over
      |     time) | the same scenario as a queueing
      |     network, solved in closed form (lockstep: fortio's batches, traced)
    resources, results, simulate, additive, theory, analytic_results, symmetry
      |     statistics: per-component tables, latency with CIs, analytic baselines; a fleet
      |     of identical copies simulated as fewer copies and scaled back
    cost, density, capacity, sweep, measurements, published, calibrate, validate, artifacts,
    rollout, export, report/ (gather -> tables -> plots -> document, render)
      |     money, capacity, sweeps, calibration and validation, files and reports
    api  ->  importers  ->  commands  ->  cli
            one function per command; scenarios from Kubernetes; what each subcommand does
            with its arguments; the parser
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"

_API = (
    "load",
    "change",
    "simulate",
    "compare",
    "rollout",
    "sweep",
    "calibrate",
    "validate",
    "capacity",
    "report",
)
__all__ = [  # noqa: RUF022 (the API in the order of the docstring)
    "__version__",
    "load",
    "change",
    "simulate",
    "compare",
    "rollout",
    "sweep",
    "calibrate",
    "validate",
    "capacity",
    "report",
]

if TYPE_CHECKING:
    from meshsim.api import (
        calibrate,
        capacity,
        change,
        compare,
        load,
        report,
        simulate,
        sweep,
        validate,
    )


def __getattr__(name: str) -> Any:
    """Load the API on first use (PEP 562)."""
    if name in _API:
        from meshsim import api

        return getattr(api, name)
    raise AttributeError(f"module 'meshsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})


class _Package(types.ModuleType):
    """The ``meshsim`` package object. Six API names are also submodules (``meshsim.simulate``
    the function, ``meshsim/simulate.py`` the module): importing a submodule sets the
    package's attribute of that name, so each API name is a property that always answers the
    function and ignores that assignment. ``from meshsim.simulate import ...`` is unaffected."""


def _api_property(name: str) -> property:
    def get(_package: types.ModuleType) -> Any:
        return __getattr__(name)

    def ignore(_package: types.ModuleType, _value: Any) -> None:
        pass  # the import system binding the submodule of the same name

    return property(get, ignore)


for _name in _API:
    setattr(_Package, _name, _api_property(_name))
sys.modules[__name__].__class__ = _Package
