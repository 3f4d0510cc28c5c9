"""Parameter profiles: named sets of per-component costs, each with its provenance.

A profile is data that people pass around: reading one is bounded (size, nesting, aliases),
runs nothing, and any problem is one line naming the profile file, line and field.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from meshsim import safe_yaml
from meshsim.errors import ScenarioError
from meshsim.scenario import Params, Strict

PACKAGE_DATA = "profile_data"
# Linkerd and Cilium parameters for profiles that give none (the Istio profiles predate them)
DATAPLANE_DEFAULTS = "dataplanes/linkerd-cilium-published.yaml"
DEFAULTS_SOURCE = f"meshsim:{PACKAGE_DATA}/{DATAPLANE_DEFAULTS}"  # marks a section taken from it
DATAPLANE_SECTIONS = ("linkerd", "linkerd_control", "cilium_envoy", "cilium")
MAX_BYTES = 1_000_000  # a profile is a page or two of numbers
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,59}$")  # a key fit to print back


class Profile(Strict):
    name: str
    description: str = ""
    params: Params
    provenance: dict[str, str] = Field(default_factory=dict)
    calibration: dict[str, Any] | None = Field(
        None, description="how a fitted profile was fitted: data, template, residuals"
    )


def builtin_names() -> list[str]:
    folder = resources.files("meshsim") / PACKAGE_DATA
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def profile_source(name: str, relative_to: Path | None = None) -> tuple[str, str]:
    """(text, where) of a profile given by built-in name or by a YAML path."""
    if name in builtin_names():
        res = resources.files("meshsim") / PACKAGE_DATA / f"{name}.yaml"
        return res.read_text(), f"meshsim:{PACKAGE_DATA}/{name}.yaml"
    path = Path(name)
    if not path.is_absolute() and relative_to is not None:
        path = relative_to / path
    if not path.is_file():
        known = ", ".join(builtin_names())
        raise FileNotFoundError(f"no profile {name[:80]!r} (built-in: {known}; or a YAML path)")
    return read_text(path), str(path)


_PARSED: dict[tuple[str, str], Profile] = {}
"""Profiles already parsed, by (where, text): a sweep builds every point's scenario anew, and
parsing the same profile text each time cost 30 ms a point. The text is read every time, so
an edited file is parsed again."""
MAX_PARSED = 64


def load_profile(name: str, relative_to: Path | None = None) -> tuple[Profile, str, str]:
    """(profile, text, where); ScenarioError naming the profile file, line and field."""
    text, where = profile_source(name, relative_to)
    cached = _PARSED.get((where, text))
    if cached is not None:
        return cached.model_copy(deep=True), text, where
    doc, node = load_yaml(text, where)
    if not isinstance(doc, dict):
        raise ScenarioError(f"a profile is a YAML mapping, not {_kind(doc)}", where, 1)
    doc = with_dataplane_defaults(doc)
    try:
        profile = Profile.model_validate(doc)
        if len(_PARSED) < MAX_PARSED:
            _PARSED[(where, text)] = profile.model_copy(deep=True)
        return profile, text, where
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(
                str(p) if isinstance(p, int) or _NAME.match(str(p)) else "?" for p in loc
            )
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(ScenarioError(message, where, _line_of(node, loc), field))
        raise ScenarioError.several(problems) from None


def table(extra: list[str] = ()) -> list[tuple[str, str, str]]:  # type: ignore[assignment]
    """(name, description, source) of each built-in profile, then of ``extra`` paths: the
    source is the file whose ``provenance`` names where each number comes from."""
    rows = []
    for name in [*builtin_names(), *extra]:
        profile, _, where = load_profile(name)
        description = " ".join(profile.description.split())
        rows.append((profile.name, description, where))
    return rows


def with_dataplane_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """The profile with the built-in Linkerd and Cilium sections it lacks, and their
    provenance, marked as taken from the defaults file."""
    params = doc.get("params")
    if not isinstance(params, dict):
        return doc
    missing = [s for s in DATAPLANE_SECTIONS if s not in params]
    if not missing:
        return doc
    res = resources.files("meshsim") / PACKAGE_DATA / DATAPLANE_DEFAULTS
    defaults = yaml.safe_load(res.read_text())
    provenance = dict(doc.get("provenance") or {})
    for section in missing:
        provenance[f"{section}.from"] = DEFAULTS_SOURCE
        for key, value in defaults["provenance"].items():
            if key == section or key.startswith(section + "."):
                provenance.setdefault(key, value)
    params = {**params, **{s: defaults["params"][s] for s in missing}}
    return {**doc, "params": params, "provenance": provenance}


def calibration_of(path: Path) -> dict[str, Any]:
    """A profile file's ``calibration`` section (empty if it has none), read as data."""
    file = str(path)
    doc, node = load_yaml(read_text(path), file)
    if not isinstance(doc, dict):
        raise ScenarioError(f"a profile is a YAML mapping, not {_kind(doc)}", file, 1)
    calibration = doc.get("calibration") or {}
    if not isinstance(calibration, dict):
        line = _line_of(node, ("calibration",))
        raise ScenarioError(f"a mapping, not {_kind(calibration)}", file, line, "calibration")
    for key, kind in (("fit_on", str), ("template", str), ("scenario_overrides", list)):
        value = calibration.get(key)
        if value is not None and not isinstance(value, kind):
            line = _line_of(node, ("calibration", key))
            raise ScenarioError(
                f"expected {kind.__name__}, not {_kind(value)}", file, line, f"calibration.{key}"
            )
    for i, item in enumerate(calibration.get("scenario_overrides") or []):
        if not isinstance(item, str):
            field = f"calibration.scenario_overrides.{i}"
            line = _line_of(node, ("calibration", "scenario_overrides", i))
            raise ScenarioError("expected PATH=VALUE text", file, line, field)
    return calibration


def read_text(path: Path, max_bytes: int | None = None) -> str:
    """A profile file's text: at most ``max_bytes`` (default MAX_BYTES), UTF-8, no NUL bytes
    (``safe_yaml.read_text``). Errors never echo it."""
    return safe_yaml.read_text(path, MAX_BYTES if max_bytes is None else max_bytes)


def load_yaml(text: str, file: str) -> tuple[Any, yaml.Node | None]:
    """(document, node tree) of YAML text: ``safe_yaml.load``, the one bounded reader (safe
    types only, nesting, aliases and expanded size capped)."""
    return safe_yaml.load(text, file)


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a field path (as deep as the path exists)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        found = None
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            found = node.value[part] if 0 <= part < len(node.value) else None
        if found is None:
            break
        node, line = found, found.start_mark.line + 1
    return line


def _kind(value: Any) -> str:
    return {list: "a list", str: "text", dict: "a mapping", type(None): "empty"}.get(
        type(value), f"a {type(value).__name__}"
    )


def digest(text: str, profile: Profile | None = None) -> str:
    """The profile's fingerprint for provenance: its text, and the built-in defaults file too
    when the profile took sections from it (an edit there changes the numbers as well)."""
    data = text.encode()
    if profile is not None and DEFAULTS_SOURCE in profile.provenance.values():
        defaults = resources.files("meshsim") / PACKAGE_DATA / DATAPLANE_DEFAULTS
        data += b"\0" + defaults.read_bytes()
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base``; None values leave base unchanged."""
    out = dict(base)
    for key, value in override.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
