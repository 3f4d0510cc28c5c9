"""Changing a loaded scenario in Python, typed and validated, without reading any file again.

    ambient = loaded.replace(mesh={"mode": "ambient"})
    busier = loaded.replace(workload={"generator": {"rate_rps": 600.0}}, sim={"seed": 7})

Each keyword is a top-level section of the scenario; its dict is merged into that section
(nested dicts merge, anything else replaces). The result is validated as a file would be, and
its parameters are re-resolved from the profile already loaded; only a change of
``mesh.profile`` reads the new profile. Provenance records each change as ``path=value``,
exactly as ``--set`` and ``with_changes`` do, so the same change made either way gives the
same summary, bit for bit.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from meshsim import profiles
from meshsim.errors import ScenarioError
from meshsim.scenario import InvalidReference, Params, Scenario, check_references


def assignments(changes: dict[str, Any], prefix: str = "") -> list[str]:
    """``{"mesh": {"mode": "ambient"}}`` as ``["mesh.mode=ambient"]``, in the order given."""
    out = []
    for key, value in changes.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out += assignments(value, f"{path}.")
        else:
            out.append(f"{path}={_text(value)}")
    return out


def _text(value: Any) -> str:
    """A value as ``--set`` would write it (YAML that reads back as the same value)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _merge(target: dict[str, Any], changes: dict[str, Any], where: str) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and value:
            node = target.setdefault(key, {})
            if not isinstance(node, dict):
                raise ScenarioError("not a section", "replace", None, f"{where}{key}")
            _merge(node, value, f"{where}{key}.")
        else:
            target[key] = value


def check_sections(sections: dict[str, Any]) -> None:
    for name, value in sections.items():
        if name not in Scenario.model_fields:
            raise ScenarioError(f"no section {name!r} in a scenario", "replace", None, name)
        if not isinstance(value, dict):
            raise ScenarioError("expected a dict of fields", "replace", None, name)


def apply(
    scenario: Scenario, profile: profiles.Profile, sections: dict[str, Any], source: str
) -> tuple[Scenario, Params]:
    """``scenario`` with ``sections`` merged in, validated, and its parameters resolved
    against ``profile`` (already loaded). ScenarioError names ``source`` and the field."""
    raw = scenario.model_dump(mode="json", exclude_unset=True)
    _merge(raw, sections, "")
    try:
        changed = Scenario.model_validate(raw)
        check_references(changed)
        merged = profiles.merge(
            profile.params.model_dump(), changed.params.model_dump(exclude_none=True)
        )
        params = Params.model_validate(merged)
    except ValidationError as exc:
        problems = [
            ScenarioError(
                str(err["msg"]).removeprefix("Value error, "),
                source,
                None,
                ".".join(str(p) for p in err["loc"]),
            )
            for err in exc.errors()
        ]
        raise ScenarioError.several(problems) from None
    except InvalidReference as exc:
        raise ScenarioError(str(exc), source, None, ".".join(map(str, exc.loc))) from None
    return changed, params
