"""Writing results: every file goes to a temporary name first and is renamed into place, so a
reader (or an interrupted run) never sees half a file.

Tables are plain: a CSV holds one header row and data rows, nothing else, so
``pandas.read_csv(path)``, DuckDB and spreadsheets read it with no options. Where its numbers
came from, and the unit of each column, live beside it in the folder's ``provenance.json``
(``tables[<file name>]``; parquet files carry the same in their key-value metadata).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

PROVENANCE_FILE = "provenance.json"
CONVENTION = (
    "Every table in this folder is a plain CSV (or parquet) file: one header row, then data. "
    "Its provenance (scenario, seed, profile, meshsim version) and the unit of each column are "
    "here under tables[<file name>]; a column's unit is also the suffix of its name "
    "(_ms milliseconds, _us microseconds, _rps requests per second, _mib MiB, _pct percent). "
    "An empty unit means a label, a count or a ratio."
)

# (pattern searched in a column name, unit): the first that matches names the unit
_UNIT_PATTERNS = (
    (r"(^|_)usd_month|\(usd/month\)", "USD/month"),
    (r"(^|_)usd_hour|usd/h", "USD/hour"),
    (r"_ms($|_)|\(ms\)|^ms$", "ms"),
    (r"_us($|_)|\(us\)", "us"),
    (r"_rps($|_)|\(rps\)|_qps$|^requested_qps$|^achieved_qps$", "requests/s"),
    (r"_pct($|_)|\(%\)|^headroom", "%"),
    (r"(^|_)mib($|_)|\(mib\)", "MiB"),
    (r"(^|_)gib($|_)|\(gib\)", "GiB"),
    (r"mcores|millicores", "millicores"),
    (r"(^|_)cpu_s($|_)", "CPU seconds"),
    (r"vcpu", "cores (mean busy, or requested)"),
    (r"utilisation", "fraction of capacity"),
    (r"_bytes($|_)", "bytes"),
    (r"_s($|_)|\(s\)", "s"),
)


def column_unit(column: str) -> str:
    """The unit a column name carries (``added_p99_ms`` -> ``ms``), or '' for none."""
    low = column.lower()
    for pattern, unit in _UNIT_PATTERNS:
        if re.search(pattern, low):
            return unit
    return ""


def write_bytes(path: Path, data: bytes) -> Path:
    if path.exists() and not path.is_file():  # a rename would replace a folder or a device
        raise IsADirectoryError(21, "exists and is not a regular file", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: Path, doc: Any) -> Path:
    return write_text(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")


def table_provenance(
    columns: list[str], provenance: dict[str, Any], units: dict[str, str] | None = None
) -> dict[str, Any]:
    """One table's entry in ``provenance.json``: where it came from, each column's unit."""
    given = units or {}
    return {
        "provenance": {k: _plain(v) for k, v in provenance.items()},
        "units": {c: given.get(c, column_unit(c)) for c in columns},
    }


def record_provenance(
    path: Path, columns: list[str], provenance: dict[str, Any], units: dict[str, str] | None = None
) -> Path:
    """Add (or replace) the entry of the table at ``path`` in its folder's provenance.json."""
    sidecar = path.parent / PROVENANCE_FILE
    doc: dict[str, Any] = {}
    if sidecar.is_file():
        try:
            doc = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            doc = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("tables"), dict):
        doc = {}
    tables = doc.get("tables", {})
    tables[path.name] = table_provenance(columns, provenance, units)
    return write_json(sidecar, {"convention": CONVENTION, "tables": dict(sorted(tables.items()))})


def write_csv(
    path: Path,
    frame: pd.DataFrame,
    provenance: dict[str, Any] | None = None,
    units: dict[str, str] | None = None,
) -> Path:
    """A plain CSV; its provenance and column units go to the folder's provenance.json."""
    written = write_text(path, frame.to_csv(index=False, float_format="%.6g"))
    if provenance is not None:
        record_provenance(path, [str(c) for c in frame.columns], provenance, units)
    return written


def read_csv(path: Path) -> pd.DataFrame:
    """A table this package wrote (plain CSV)."""
    return pd.read_csv(path)


def read_provenance(path: Path) -> dict[str, Any]:
    """The provenance.json entry of the table at ``path``."""
    doc = json.loads((path.parent / PROVENANCE_FILE).read_text())
    return doc["tables"][path.name]


def _plain(value: Any) -> Any:
    """JSON-safe: lists and numbers as they are, anything else as text."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
