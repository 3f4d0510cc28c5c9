"""Reading scenario YAML: safe loading, ``--set`` overrides, profiles, and located errors.

Every validation error is mapped back to the line of the YAML node it concerns, so a user
reads ``quickstart.yaml:14: services.api.replicas: Input should be greater than or equal to 1``.
Files are read through ``safe_yaml``, which bounds their size, nesting and aliases.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from meshsim import changes, fleet, profiles, quantity, safe_yaml
from meshsim.errors import ScenarioError
from meshsim.scenario import InvalidReference, Params, Scenario, check_references

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario with its resolved parameters and where everything came from."""

    scenario: Scenario
    params: Params
    profile: profiles.Profile
    source: str = "<memory>"
    scenario_sha256: str = ""
    profile_source: str = ""
    profile_sha256: str = ""
    overrides: tuple[str, ...] = field(default_factory=tuple)

    def provenance(self) -> dict[str, Any]:
        return {
            "scenario": self.source,
            "scenario_name": self.scenario.name,
            "scenario_sha256": self.scenario_sha256,
            "overrides": list(self.overrides),
            "profile": self.profile.name,
            "profile_source": self.profile_source,
            "profile_sha256": self.profile_sha256,
            "seed": self.scenario.sim.seed,
        }

    def with_changes(self, *assignments: str) -> LoadedScenario:
        """A copy with ``path=value`` assignments applied (as ``--set`` does)."""
        raw = self.scenario.model_dump(mode="json", exclude_unset=True)
        for assignment in assignments:
            apply_assignment(raw, assignment)
        base = Path(self.source).parent if self.source != "<memory>" else None
        return _build(
            raw, self.source, {}, base, self.overrides + tuple(assignments), self.scenario_sha256
        )

    def replace(self, **sections: dict[str, Any]) -> LoadedScenario:
        """A validated copy with sections merged in, e.g. ``replace(mesh={"mode": "ambient"})``;
        reads no file unless the profile changes (see ``meshsim.changes``)."""
        changes.check_sections(sections)
        assignments = tuple(changes.assignments(sections))
        if "profile" in sections.get("mesh", {}):
            return self.with_changes(*assignments)  # a new profile must be read
        scenario, params = changes.apply(self.scenario, self.profile, sections, self.source)
        return dataclasses.replace(
            self, scenario=scenario, params=params, overrides=self.overrides + assignments
        )


def line_map(node: yaml.Node, file: str, loc: Loc = (), out: dict | None = None) -> dict:
    """Map each field path to its 1-based line; reject duplicate keys, which YAML hides."""
    out = {} if out is None else out
    out[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ScenarioError(
                    "duplicate key", file, key_node.start_mark.line + 1, _dotted((*loc, key))
                )
            seen.add(key)
            line_map(value_node, file, (*loc, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            line_map(item, file, (*loc, i), out)
    return out


def _dotted(loc: Loc) -> str:
    return ".".join(str(p) for p in loc)


def locate(loc: Loc, lines: dict[Loc, int]) -> tuple[int | None, str]:
    """Line and field path for a pydantic location (which adds union tags to the path)."""
    known: Loc = ()
    field_path: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and part.startswith("function-"):
            continue
        spelled = quantity.split_unit(part) if isinstance(part, str) else None
        written = (*known, part) in lines
        if spelled and not written and (*known, spelled[0]) in lines:  # as ``cpu_request: 1``
            part = spelled[0]
        if (*known, part) in lines:
            known = (*known, part)
        field_path.append(part)
    return lines.get(known), _dotted(tuple(field_path))


def apply_assignment(raw: dict[str, Any], assignment: str) -> None:
    """Set ``a.b.0.c=value`` in a raw scenario dict; the value is parsed as YAML."""
    path, sep, text = assignment.partition("=")
    if not sep or not path:
        raise ScenarioError("expected PATH=VALUE", "--set", None, assignment)
    value = safe_yaml.load_value(text, "--set", path)
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in path.split(".")]
    services = raw.get("services")
    if len(parts) > 2 and parts[0] == "services" and parts[1] not in (services or {}):
        # a typo must not create a new service with every field at its default
        raise ScenarioError(f"no service {parts[1]!r}", "--set", None, path)
    target: Any = raw
    for i, part in enumerate(parts[:-1]):
        try:
            target = target.setdefault(part, {}) if isinstance(target, dict) else target[part]
        except (IndexError, KeyError, TypeError):
            where = _dotted(tuple(parts[: i + 1]))
            raise ScenarioError("no such element", "--set", None, where) from None
    last = parts[-1]
    if isinstance(target, dict) and isinstance(last, str):
        for other in _other_spellings(last):  # --set cpu_request=1 replaces cpu_request_m
            target.pop(other, None)
    try:
        target[last] = value
    except (IndexError, TypeError):
        raise ScenarioError("no such element", "--set", None, path) from None


def _other_spellings(key: str) -> list[str]:
    """The names the same field may have in the file: ``cpu_request`` and ``cpu_request_m``."""
    spelled = quantity.split_unit(key)
    if spelled is not None:
        return [spelled[0]]
    return [key + suffix for suffix in quantity.UNIT_SUFFIXES]


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> LoadedScenario:
    """Read, override, validate and resolve a scenario file. Raises ScenarioError."""
    path = Path(path)
    file = str(path)
    text = safe_yaml.read_text(path)
    raw, node = safe_yaml.load(text, file)
    if not isinstance(raw, dict) or node is None:
        raise ScenarioError("a scenario is a YAML mapping", file, 1)
    lines = line_map(node, file)
    for assignment in overrides:
        apply_assignment(raw, assignment)
    digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return _build(raw, file, lines, path.parent, tuple(overrides), digest)


def load_scenario_dict(raw: dict[str, Any], source: str = "<memory>") -> LoadedScenario:
    """Validate a scenario given as a dict (the Python API's entry point)."""
    return _build(raw, source, {}, None, (), "")


def _build(
    raw: dict[str, Any],
    file: str,
    lines: dict[Loc, int],
    base: Path | None,
    overrides: tuple[str, ...],
    scenario_digest: str,
) -> LoadedScenario:
    raw = fleet.expand(raw, lines, file)  # "this namespace, N times", bounded
    try:
        scenario = Scenario.model_validate(raw)
        check_references(scenario)
    except ValidationError as exc:
        raise every_problem(exc, file, lines, overrides) from None
    except InvalidReference as exc:
        line, field_path = locate(exc.loc, lines)
        raise _blame(str(exc), file, line, field_path, overrides) from None
    try:  # errors in the profile's own content name the profile file
        profile, text, where = profiles.load_profile(scenario.mesh.profile, base)
    except FileNotFoundError as exc:
        line, _ = locate(("mesh", "profile"), lines)
        raise ScenarioError(str(exc), file, line, "mesh.profile") from None
    merged = profiles.merge(
        profile.params.model_dump(), scenario.params.model_dump(exclude_none=True)
    )
    try:
        params = Params.model_validate(merged)
    except ValidationError as exc:
        raise every_problem(exc, file, lines, (), ("params",)) from None
    return LoadedScenario(
        scenario=scenario,
        params=params,
        profile=profile,
        source=file,
        scenario_sha256=scenario_digest,
        profile_source=where,
        profile_sha256=profiles.digest(text, profile),
        overrides=overrides,
    )


def every_problem(
    exc: ValidationError,
    file: str,
    lines: dict[Loc, int],
    overrides: tuple[str, ...] = (),
    prefix: Loc = (),
) -> ScenarioError:
    """All of pydantic's errors, each located; one line each when printed."""
    problems = []
    for err in exc.errors():
        line, field_path = locate((*prefix, *err["loc"]), lines)
        problems.append(_blame(pydantic_message(err), file, line, field_path, overrides))
    return ScenarioError.several(problems)


_UNION_TAGS = {"open", "fortio", "constant", "exponential", "lognormal", "empirical"}


def _blame(
    message: str, file: str, line: int | None, field_path: str, overrides: tuple[str, ...]
) -> ScenarioError:
    """The error, named by ``--set`` when the field it concerns was set by an override (the
    user typed that value, not the file's line)."""
    parts = [p for p in field_path.split(".") if p not in _UNION_TAGS]
    for assignment in overrides:
        path = assignment.partition("=")[0].split(".")
        if parts[: len(path)] == path:
            return ScenarioError(message, "--set", None, field_path)
    return ScenarioError(message, file, line, field_path)


def pydantic_message(err: Any) -> str:
    """pydantic's message without its 'Value error, ' prefix for our own checks."""
    return str(err["msg"]).removeprefix("Value error, ")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, for editors (``meshsim schema``): the pydantic
    model's, plus ``fleets:``, which is expanded into services when the file is read."""
    schema = Scenario.model_json_schema()
    fleet_schema = fleet.Fleet.model_json_schema()
    schema.setdefault("$defs", {}).update(fleet_schema.pop("$defs", {}))
    schema["$defs"]["Fleet"] = fleet_schema
    schema["properties"]["fleets"] = {"type": "array", "items": {"$ref": "#/$defs/Fleet"}}
    return schema
