"""Reading input files people pass around: bounded in size, text only, never echoed.

Errors name the file (and line) but show at most a short, escaped excerpt of a value, and only
of a file that parsed as the format expected: a wrong file given by mistake (a password file,
a binary) must not end up on a terminal or in a CI log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from real_bench.errors import BenchError

MAX_BYTES = 20_000_000  # one measurement export; a fortio JSON with histogram is ~100 kB


def read_text(path: Path, max_bytes: int | None = None) -> str:
    """The file's text: at most ``max_bytes`` (default MAX_BYTES), UTF-8, no NUL bytes; else a
    one-line BenchError."""
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    try:
        if path.is_dir():
            raise BenchError(f"{path}: is a directory (pass the files inside it)")
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise BenchError(f"{path}: cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise BenchError(f"{path}: larger than the limit of {max_bytes} bytes; split it")
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise BenchError(f"{path}:{line}: NUL byte: a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BenchError(f"{path}:{line}: not UTF-8 text (byte {exc.start + 1})") from None


def excerpt(value: object, limit: int = 40, quote: bool = True) -> str:
    """A short, escaped rendering of a value read from a file, for an error message."""
    text = value if isinstance(value, str) else repr(value)
    short = repr(text[:limit] + ("..." if len(text) > limit else ""))
    return short if quote else short[1:-1]


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,59}$")


def field_path(loc: Iterable[object]) -> str:
    """A validation error's field path, fit to print: names and indexes as they are, anything
    else (a key that is a line of some other file) as ``?``."""
    parts = [str(p) if isinstance(p, int) or _NAME.match(str(p)) else "?" for p in loc]
    return ".".join(parts)


def validation_error(where: str, exc: ValidationError) -> BenchError:
    """pydantic's first complaint as one line: ``where: field a.b: message``."""
    err = exc.errors()[0]
    return BenchError(f"{where}: field {field_path(err['loc']) or '(top)'}: {err['msg']}")
