"""Quantities as Kubernetes writes them: ``500m`` or ``0.5`` cores, ``128Mi``, ``2ms``.

A scenario field whose name ends in a unit (``cpu_request_m``, ``memory_mib``,
``service_time_ms``, ``duration_s``) also takes its name without the unit and a quantity:
``cpu_request: 500m`` is ``cpu_request_m: 500``. The quantity carries its own unit, so the
number stored is the same whichever way the user wrote it. ``spelled_as_quantities`` is the
pydantic before-validator that does this for every such field of a model.

The grammar is exactly Kubernetes' (``resource.Quantity`` for CPU and memory, Go's
``time.ParseDuration`` for time), and stricter in what it accepts: no negative numbers,
nothing infinite, a bounded length and size. Arithmetic is exact (``Fraction``) until the one
conversion to float, so ``0.1`` cores is exactly 100 millicores.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import cache
from typing import Any, Literal

Kind = Literal["cpu", "memory", "time"]

MAX_TEXT = 64
"""Longest quantity read, in characters: parsing is bounded in cost."""
MAX_EXPONENT = 30
"""Largest decimal exponent in ``1e3`` notation (Kubernetes allows more; nothing here needs it)."""
MAX_VALUE = {"cpu": 10**9, "memory": 2**70, "time": 10**9}
"""Largest quantity accepted, in cores, bytes and seconds: far beyond any cluster."""

# Kubernetes resource.Quantity suffixes (k8s.io/apimachinery/pkg/api/resource/suffix.go)
DECIMAL_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
# Go time.ParseDuration units, in seconds (both micro signs, as Go accepts)
DURATION_UNITS = {
    "ns": Fraction(1, 10**9),
    "us": Fraction(1, 10**6),
    "µs": Fraction(1, 10**6),
    "μs": Fraction(1, 10**6),
    "ms": Fraction(1, 10**3),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
}

_NUMBER = r"(?:\d+\.?\d*|\.\d+)"
_QUANTITY = re.compile(
    rf"^\+?(?P<number>{_NUMBER})"
    rf"(?:(?P<binary>{'|'.join(BINARY_SUFFIXES)})"
    rf"|[eE](?P<exponent>[+-]?\d+)"
    rf"|(?P<decimal>[{''.join(s for s in DECIMAL_SUFFIXES if s)}]?))$"
)
_DURATION_PART = re.compile(rf"(?P<number>{_NUMBER})(?P<unit>ns|us|µs|μs|ms|s|m|h)")

# A field's unit suffix: the kind of quantity it holds and the size of its unit.
UNIT_SUFFIXES: dict[str, tuple[Kind, Fraction]] = {
    "_m": ("cpu", Fraction(1, 1000)),  # millicores
    "_kib": ("memory", Fraction(2**10)),
    "_mib": ("memory", Fraction(2**20)),
    "_gib": ("memory", Fraction(2**30)),
    "_us": ("time", Fraction(1, 10**6)),
    "_ms": ("time", Fraction(1, 10**3)),
    "_s": ("time", Fraction(1)),
}
EXAMPLES = {"cpu": "500m, 2 or 0.5", "memory": "128Mi, 1Gi or 512M", "time": "2ms, 250us or 1.5s"}


def parse(value: object, kind: Kind) -> Fraction:
    """A quantity in cores, bytes or seconds; raises ValueError saying what is accepted.

    CPU and memory take a bare number too (cores, bytes), as Kubernetes does; a duration needs
    its unit (as Go's), except zero.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(_expected(kind))
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"must be finite, e.g. {EXAMPLES[kind]}")
        if kind == "time" and value != 0:
            raise ValueError(f"a duration needs its unit, e.g. {EXAMPLES[kind]}")
        amount = Fraction(value)
    else:
        amount = _parse_text(value, kind)
    if amount < 0:
        raise ValueError(f"must not be negative, e.g. {EXAMPLES[kind]}")
    if amount > MAX_VALUE[kind]:
        raise ValueError(f"{value!r} is too large")
    return amount


def _parse_text(text: str, kind: Kind) -> Fraction:
    if len(text) > MAX_TEXT:
        raise ValueError(f"a quantity is at most {MAX_TEXT} characters")
    if text.startswith("-"):
        raise ValueError(f"must not be negative, e.g. {EXAMPLES[kind]}")
    if kind == "time":
        return _parse_duration(text)
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"{text!r} {_expected(kind)}")
    number = Fraction(match["number"].rstrip(".") or "0")
    if match["binary"] is not None:
        return number * 2 ** BINARY_SUFFIXES[match["binary"]]
    if match["exponent"] is not None:
        exponent = int(match["exponent"])
        if abs(exponent) > MAX_EXPONENT:
            raise ValueError(f"{text!r}: exponent beyond ±{MAX_EXPONENT}")
    else:
        exponent = DECIMAL_SUFFIXES[match["decimal"]]
    return number * Fraction(10) ** exponent


def _parse_duration(text: str) -> Fraction:
    """Go's duration syntax: ``1h30m``, ``1.5s``, ``250us``; ``0`` alone needs no unit."""
    body = text.removeprefix("+")
    if body == "0":
        return Fraction(0)
    if re.fullmatch(_NUMBER, body):
        raise ValueError(f"a duration needs its unit, e.g. {EXAMPLES['time']}")
    total = Fraction(0)
    position = 0
    while position < len(body):
        match = _DURATION_PART.match(body, position)
        if match is None:
            raise ValueError(f"{text!r} {_expected('time')}")
        total += Fraction(match["number"].rstrip(".") or "0") * DURATION_UNITS[match["unit"]]
        position = match.end()
    if position == 0:
        raise ValueError(f"{text!r} {_expected('time')}")
    return total


def _expected(kind: Kind) -> str:
    what = {"cpu": "a CPU quantity", "memory": "a memory quantity", "time": "a duration"}[kind]
    return f"is not {what} (e.g. {EXAMPLES[kind]})"


def in_unit(value: object, suffix: str) -> float:
    """A quantity in the unit of a field ending in ``suffix`` (``_m``: millicores, ...)."""
    kind, unit = UNIT_SUFFIXES[suffix]
    return float(parse(value, kind) / unit)


def split_unit(field_name: str) -> tuple[str, str] | None:
    """``("cpu_request", "_m")`` for ``cpu_request_m``; None for a name without a unit."""
    for suffix in UNIT_SUFFIXES:
        stem = field_name.removesuffix(suffix)
        if stem != field_name and stem:
            return stem, suffix
    return None


def quantity_spellings(field_names: list[str]) -> dict[str, tuple[str, str]]:
    """``{stem: (field, suffix)}`` for the unit-suffixed fields of a model.

    A stem that is itself a field, or shared by two fields, is left out: it would be ambiguous.
    """
    stems: dict[str, list[tuple[str, str]]] = {}
    for name in field_names:
        split = split_unit(name)
        if split is not None:
            stems.setdefault(split[0], []).append((name, split[1]))
    return {
        stem: fields[0]
        for stem, fields in stems.items()
        if len(fields) == 1 and stem not in field_names
    }


_NUMERIC = (float, int, float | None, int | None)


@cache
def spellings_of(model: type) -> dict[str, tuple[str, str]]:
    """``quantity_spellings`` of a pydantic model's numeric fields (a list of durations or a
    distribution has none)."""
    fields = model.model_fields  # type: ignore[attr-defined]
    numeric = [name for name, info in fields.items() if info.annotation in _NUMERIC]
    return {
        stem: spelled
        for stem, spelled in quantity_spellings(list(fields)).items()
        if spelled[0] in numeric
    }


def spelled_as_quantities(data: Any, model: type, validate: Any) -> Any:
    """Validate the input of ``model`` (``validate``: pydantic's handler) with each
    ``stem: quantity`` replaced by ``field: number``.

    Every problem is reported at once, a quantity's located at the key the user wrote, beside
    the other fields' problems; a field given both ways is an error naming both.
    """
    spellings = spellings_of(model)
    if not isinstance(data, dict) or not any(stem in data for stem in spellings):
        return validate(data)
    from pydantic_core import PydanticCustomError, ValidationError

    out = dict(data)
    errors: list[Any] = []
    unread: set[str] = set()  # fields whose quantity could not be read
    for stem, (field, suffix) in spellings.items():
        if stem not in data:
            continue
        value = out.pop(stem)
        try:
            if field in data:
                raise ValueError(f"given both as {stem} and {field}: give one")
            out[field] = in_unit(value, suffix)
        except ValueError as exc:
            unread.add(field)
            error = PydanticCustomError("quantity", "{message}", {"message": str(exc)})
            errors.append({"type": error, "loc": (stem,), "input": value})
    if not errors:
        return validate(out)
    try:
        validate(out)
    except ValidationError as exc:  # the other fields' problems, but not "missing" for ours
        for err in exc.errors():
            if err["type"] == "missing" and err["loc"][:1] and err["loc"][0] in unread:
                continue
            error = PydanticCustomError(err["type"], err["msg"].replace("{", "{{"))
            errors.append({"type": error, "loc": err["loc"], "input": err.get("input")})
    raise ValidationError.from_exception_data(model.__name__, errors)


def schema_spellings(schema: dict[str, Any], model: type) -> None:
    """Add the quantity spellings of ``model``'s fields to its JSON Schema, so that an editor
    checking a scenario against ``meshsim schema`` accepts ``cpu_request: 500m`` too."""
    properties = schema.setdefault("properties", {})
    required = schema.get("required", [])
    for stem, (field, suffix) in spellings_of(model).items():
        kind = UNIT_SUFFIXES[suffix][0]
        properties[stem] = {
            "title": stem.replace("_", " ").capitalize(),
            "type": "string" if kind == "time" else ["string", "number"],
            "description": f"{field} as a {kind} quantity, e.g. {EXAMPLES[kind]}",
        }
        if field in required:  # one of the two spellings, not both
            required.remove(field)
            either = {"oneOf": [{"required": [field]}, {"required": [stem]}]}
            schema.setdefault("allOf", []).append(either)
        else:
            schema.setdefault("allOf", []).append({"not": {"required": [field, stem]}})

