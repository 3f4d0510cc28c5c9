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

from meshsim.errors import ScenarioError
from meshsim.scenario import Params, Strict

PACKAGE_DATA = "profile_data"
MAX_BYTES = 1_000_000  # a profile is a page or two of numbers
MAX_DEPTH = 32  # nested mappings/lists
MAX_ALIASES = 100  # YAML aliases (*name): no billion laughs
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
    try:
        profile = Profile.model_validate(doc)
        if len(_PARSED) < MAX_PARSED:
            _PARSED[(where, text)] = profile.model_copy(deep=True)
        return profile, text, where
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(str(p) if isinstance(p, int) or _NAME.match(str(p)) else "?" for p in loc)
        message = str(err["msg"]).removeprefix("Value error, ")
        raise ScenarioError(message, where, _line_of(node, loc), field) from None


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
    """A data file's text: at most ``max_bytes`` (default MAX_BYTES), UTF-8, no NUL bytes.
    Errors never echo it."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    file = str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror}", file) from None
    if len(data) > max_bytes:
        raise ScenarioError(f"larger than the limit of {max_bytes} bytes", file)
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise ScenarioError("NUL byte: a binary file, not YAML", file, line)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScenarioError(f"not UTF-8 text (byte {exc.start + 1})", file, line) from None


def load_yaml(text: str, file: str) -> tuple[Any, yaml.Node | None]:
    """(document, node tree) of YAML text, safe loader only, nesting and aliases capped."""
    try:
        depth = aliases = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1
                    raise ScenarioError(f"nested deeper than {MAX_DEPTH} levels", file, line)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    line = event.start_mark.line + 1
                    raise ScenarioError(f"more than {MAX_ALIASES} YAML aliases", file, line)
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = str(getattr(exc, "problem", None) or "cannot parse")[:80]
        raise ScenarioError(
            f"YAML syntax error: {problem}", file, mark.line + 1 if mark else None
        ) from None


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


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


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
