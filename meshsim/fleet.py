"""Fleets: "this namespace, N times" in a scenario, expanded when the scenario is read.

    fleets:
      - namespace: shop           # copies: namespaces shop-0 ... shop-99
        copies: 100
        services:                 # one copy's services (any Service fields; replicas: 100 ...)
          frontend: {replicas: 100, calls: [{service: cart}]}   # cart: this copy's cart
          cart: {replicas: 100}
    services:
      gateway:
        calls: [{service: shop/frontend}]   # a call into the fleet, spread over its copies

Each template service ``frontend`` becomes ``frontend-shop-0`` ... ``frontend-shop-99`` in
namespace ``shop-<i>``; a call inside the template names the same copy's service. A call
``FLEET/SERVICE`` (from anywhere) becomes one call per copy in the same step, each with the
call's probability divided by the number of copies: on average one call, spread evenly over
the copies (the calls of one step run in parallel, so occasionally two copies are called at
once and sometimes none: a Poisson-like spread, the same in both engines).

The expansion is bounded before it is made: at most ``MAX_FLEET_SERVICES`` services and
``MAX_SPREAD_CALLS`` expanded calls in all, refused in one line naming the field. The expanded
scenario is what every later check sees (``meshsim.work`` counts its pods and components).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from meshsim.errors import ScenarioError

MAX_FLEET_SERVICES = 20_000
MAX_SPREAD_CALLS = 1_000_000
SPREAD = "/"

Loc = tuple[str | int, ...]


class Fleet(BaseModel):
    """One namespace template and how many copies of it the cluster runs."""

    model_config = ConfigDict(extra="forbid", strict=True)

    namespace: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    copies: int = Field(ge=1, le=MAX_FLEET_SERVICES)
    services: dict[str, dict[str, Any]] = Field(min_length=1)


def copy_name(service: str, namespace: str, index: int) -> str:
    return f"{service}-{namespace}-{index}"


def expand(raw: dict[str, Any], lines: dict[Loc, int], file: str) -> dict[str, Any]:
    """The scenario with its ``fleets`` expanded into ``services`` (``lines`` gains the
    template's lines for the copies). Raises ScenarioError."""
    if "fleets" not in raw:
        return raw
    blocks = raw.get("fleets")
    if not isinstance(blocks, list):
        raise _error("a list of fleets", ("fleets",), lines, file)
    fleets: list[Fleet] = []
    for k, block in enumerate(blocks):
        try:
            fleets.append(Fleet.model_validate(block))
        except ValidationError as exc:
            err = exc.errors()[0]
            raise _error(str(err["msg"]), ("fleets", k, *err["loc"]), lines, file) from None
    total = sum(f.copies * len(f.services) for f in fleets) + len(raw.get("services") or {})
    if total > MAX_FLEET_SERVICES:
        raise _error(
            f"the fleets expand to {total} services, over the limit of {MAX_FLEET_SERVICES}",
            ("fleets",),
            lines,
            file,
        )
    by_namespace = {f.namespace: f for f in fleets}
    services: dict[str, Any] = {}
    for k, f in enumerate(fleets):
        template_lines = {
            name: [
                (loc[4:], line)
                for loc, line in lines.items()
                if loc[:4] == ("fleets", k, "services", name)
            ]
            for name in f.services
        }
        for i in range(f.copies):
            ns = f"{f.namespace}-{i}"
            for name, template in f.services.items():
                new = copy_name(name, f.namespace, i)
                svc = {**template, "namespace": ns}
                if "calls" in svc:
                    svc["calls"] = _local_calls(svc["calls"], f, i)
                services[new] = svc
                for rest, line in template_lines[name]:  # errors in a copy name its template
                    lines[("services", new, *rest)] = line
    own = raw.get("services") or {}
    if not isinstance(own, dict):
        raise _error("a mapping of services", ("services",), lines, file)
    for name, svc in own.items():
        if name in services:
            raise _error(f"{name!r} is also a fleet's service", ("services", name), lines, file)
        services[name] = svc
    spread = 0
    for name, svc in services.items():
        if isinstance(svc, dict) and isinstance(svc.get("calls"), list):
            svc["calls"], n = _spread_calls(svc["calls"], by_namespace)
            spread += n
            if spread > MAX_SPREAD_CALLS:
                raise _error(
                    f"calls into fleets expand to more than {MAX_SPREAD_CALLS} calls",
                    ("services", name, "calls"),
                    lines,
                    file,
                )
    out = {k: v for k, v in raw.items() if k != "fleets"}
    out["services"] = services
    return out


def _steps(calls: list[Any]) -> list[list[Any]]:
    """Calls as steps of calls (a plain call is a step of one), as ``Service`` reads them."""
    return [c if isinstance(c, list) else [c] for c in calls]


def _local_calls(calls: Any, fleet: Fleet, index: int) -> Any:
    """A template's calls with its own services' names turned into this copy's."""
    if not isinstance(calls, list):
        return calls
    out = []
    for step in _steps(calls):
        new_step = []
        for call in step:
            if isinstance(call, dict) and call.get("service") in fleet.services:
                call = {**call, "service": copy_name(call["service"], fleet.namespace, index)}
            new_step.append(call)
        out.append(new_step)
    return out


def _spread_calls(calls: list[Any], fleets: dict[str, Fleet]) -> tuple[list[Any], int]:
    """Calls to ``FLEET/SERVICE`` as one call per copy, each with its share of the
    probability; returns the calls and how many were made."""
    made = 0
    out = []
    for step in _steps(calls):
        new_step = []
        for call in step:
            target = call.get("service") if isinstance(call, dict) else None
            if isinstance(target, str) and SPREAD in target:
                namespace, _, service = target.partition(SPREAD)
                fleet = fleets.get(namespace)
                if fleet is None or service not in fleet.services:
                    new_step.append(call)  # left for validation to name as unknown
                    continue
                p = call.get("probability", 1.0)
                share = p / fleet.copies if isinstance(p, int | float) else p
                for i in range(fleet.copies):
                    new_step.append(
                        {
                            **call,
                            "service": copy_name(service, namespace, i),
                            "probability": share,
                        }
                    )
                made += fleet.copies
            else:
                new_step.append(call)
        out.append(new_step)
    return out, made


def _error(message: str, loc: Loc, lines: dict[Loc, int], file: str) -> ScenarioError:
    known: Loc = ()
    for part in loc:
        if (*known, part) in lines:
            known = (*known, part)
        else:
            break
    return ScenarioError(message, file, lines.get(known), ".".join(str(p) for p in loc))
