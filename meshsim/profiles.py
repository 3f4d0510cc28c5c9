"""Parameter profiles: named sets of per-component costs, each with its provenance."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field

from meshsim.scenario import Params, Strict

PACKAGE_DATA = "profile_data"


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
        raise FileNotFoundError(f"no profile {name!r} (built-in: {known}; or a YAML path)")
    return path.read_text(), str(path)


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
