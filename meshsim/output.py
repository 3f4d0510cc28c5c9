"""Writing results: every file goes to a temporary name first and is renamed into place, so a
reader (or an interrupted run) never sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd


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


def write_csv(path: Path, frame: pd.DataFrame, provenance: dict[str, Any] | None = None) -> Path:
    """A CSV whose first lines (``#`` comments) say where its numbers came from."""
    header = ""
    if provenance:
        header = "".join(f"# {k}: {v}\n" for k, v in provenance.items())
    return write_text(path, header + frame.to_csv(index=False, float_format="%.6g"))


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, comment="#")
