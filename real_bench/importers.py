"""Read every supported result file into RunRecords, and write them as one table.

Formats, recognised by content (not by extension):

- fortio ``load -json`` output: one JSON document with ``DurationHistogram`` (see fortio.py);
- istio/tools ``perf/benchmark`` records (``runner/fortio.py`` ``convert_data`` + Prometheus
  CPU/memory columns), as JSON lines or as the CSV it writes: integer microseconds
  ``p50``, ``p90``, ``p99`` (``p75``, ``p999`` when present), rounded ``ActualQPS``,
  ``ActualDuration`` in whole seconds, ``NumThreads``, ``Labels`` such as
  ``<runid>_qps_1000_c_16_1024_both`` (requested rate, connections and payload bytes: the rate
  is taken from there when there is no ``RequestedQPS`` column),
  ``cpu_mili_<stat>_<deployment>_<container>``, ``mem_MB_<stat>_...`` (2019 naming) or
  ``cpu_mili_avg_istio_proxy_<deployment>`` (current naming);
- real_bench's own JSON lines (``RunRecord``), e.g. ``results/*/records.jsonl``.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from real_bench.errors import BenchError
from real_bench.files import excerpt, field_path, read_text, validation_error
from real_bench.fortio import count, is_fortio, mode_from_label, number, record_from_fortio
from real_bench.record import (
    Component,
    Errors,
    Latency,
    RunRecord,
    atomic_write_text,
    judge,
)

_ISTIO_KEYS = {"Labels", "p50", "ActualQPS"}
_REQUIRED_PERCENTILES = ("p50", "p90", "p99")
_OPTIONAL_PERCENTILES = ("p75", "p999")
_LABEL_REQUEST = re.compile(
    r"(?:^|_)qps_(?P<qps>max|\d+(?:\.\d+)?)_c_(?P<connections>\d+)(?:_(?P<payload>\d+))?(?=_|$)"
)


def request_from_label(label: str) -> dict[str, float | int | None]:
    """What an istio/tools label says was requested: ``qps`` (None = max rate),
    ``connections`` and ``payload_bytes``; empty when the label does not say."""
    match = _LABEL_REQUEST.search(label.lower())
    if not match:
        return {}
    qps, payload = match["qps"], match["payload"]
    return {
        "qps": None if qps == "max" else float(qps),
        "connections": int(match["connections"]),
        "payload_bytes": int(payload) if payload else None,
    }


def is_istio_tools(doc: Any) -> bool:
    return isinstance(doc, dict) and set(doc) >= _ISTIO_KEYS


def is_own(doc: Any) -> bool:
    return isinstance(doc, dict) and "schema_version" in doc and "latency" in doc


def _component_role(name: str) -> tuple[str, str]:
    """(component name, role) from an istio/tools deployment/container column suffix."""
    n = name.lower()
    client = "fortioclient" in n or n.startswith("fortio_deployment")
    server = "fortioserver" in n
    if "ztunnel" in n:
        return name, "ztunnel"
    if "waypoint" in n:
        return name, "waypoint"
    if "proxy" in n and (client or server):
        return ("sidecar_client" if client else "sidecar_server"), "sidecar"
    if n.endswith("_captured") or n.endswith("_uncaptured"):
        if client:
            return f"client_app_{n.rsplit('_', 1)[1]}", "client_app"
        if server:
            return f"server_app_{n.rsplit('_', 1)[1]}", "server_app"
    return name, "other"


_RES = re.compile(r"^(cpu_mili|mem_MB|mem_Mi)_(min|avg|max)_(.+)$")


def record_from_istio_tools(doc: dict[str, Any], where: str, mode: str | None = None,
                            placement: str = "unknown") -> RunRecord:
    """Normalize one istio/tools compiled record (CPU/memory come from Prometheus)."""
    try:
        return _istio_tools(doc, where, mode, placement)
    except ValidationError as exc:  # a field the checks below do not cover, e.g. StartTime
        raise validation_error(where, exc) from None


def _istio_tools(doc: dict[str, Any], where: str, mode: str | None,
                 placement: str) -> RunRecord:
    label = str(doc.get("Labels") or "")
    variant = None
    if mode is None:
        found = mode_from_label(label)
        if not found:
            cs, ss = doc.get("clientsidecar"), doc.get("serversidecar")
            if cs is not None and ss is not None and not _truthy(cs) and not _truthy(ss):
                found = ("none", None)
        if not found:
            raise BenchError(f"{where}: field Labels: cannot tell the mesh mode from "
                             f"{excerpt(label)} (pass --mode)")
        mode, variant = found

    def num(key: str, required: bool = True) -> float | None:
        val = doc.get(key)
        if val in (None, ""):
            if required:
                raise BenchError(f"{where}: missing field {key}")
            return None
        return number(val, where, key)  # finite and >= 0: every field here is a rate, time or %

    achieved = num("ActualQPS")
    duration = num("ActualDuration")
    assert achieved is not None and duration is not None
    asked = request_from_label(label)
    req_raw = doc.get("RequestedQPS")
    if req_raw in (None, "") and asked:  # older CSVs: the rate is only in the label
        requested = asked["qps"]
    elif str(req_raw).strip().lower() in ("max", "", "none", "-1"):
        requested = None
    else:
        requested = num("RequestedQPS")
    n_requests = round(achieved * duration)  # not stored: estimated from rate x duration
    err_pct = num("errorPercent", required=False) or 0.0
    if err_pct > 100:
        raise BenchError(f"{where}: field errorPercent: {err_pct:g} is above 100")
    n_err = round(err_pct / 100.0 * n_requests)
    percentiles = {f"{k}_us": num(k) for k in _REQUIRED_PERCENTILES}
    for k in _OPTIONAL_PERCENTILES:  # not every istio/tools version writes them
        value = num(k, required=False)
        percentiles[f"{k}_us"] = math.nan if value is None else value
    lat = Latency(count=n_requests, min_us=num("min", False), max_us=num("max", False),
                  **percentiles)
    threads = doc.get("NumThreads")
    if threads not in (None, ""):
        connections = count(threads, where, "NumThreads")
    elif asked:
        connections = asked.get("connections") or 0
    else:
        raise BenchError(f"{where}: field NumThreads: missing, and no c_N in the label")
    comps: dict[str, dict[str, Any]] = {}
    for key, val in doc.items():
        m = _RES.match(str(key))
        if not m or val in (None, ""):
            continue
        kind, stat, who = m.groups()
        name, role = _component_role(who)
        c = comps.setdefault(name, {"role": role, "raw": who})
        c[f"{kind}_{stat}"] = number(val, where, excerpt(key, 60, quote=False))
    components = [
        Component(name=name, role=c["role"], program=_program(c["role"], c["raw"]),
                  cpu_millicores=c.get("cpu_mili_avg"),
                  mem_mib=c.get("mem_MB_max", c.get("mem_Mi_max")),
                  mem_mib_avg=c.get("mem_MB_avg", c.get("mem_Mi_avg")))
        for name, c in sorted(comps.items())
    ]
    extra = {k: doc[k] for k in ("mixer", "mixer_cache", "serversidecar", "clientsidecar",
                                 "proxyaccesslog", "RunType", "Payload") if k in doc}
    extra["count_estimated"] = True
    return RunRecord(
        run_id=f"istio-tools-{label}", source="istio-tools", source_file=where,
        backend="external", mode=mode,  # type: ignore[arg-type]
        mode_variant=variant, label=label, start_time=doc.get("StartTime"),
        requested_qps=requested, achieved_qps=achieved,
        connections=connections,
        payload_bytes=asked.get("payload_bytes"), placement=placement,  # type: ignore[arg-type]
        duration_s=duration, load_generator="fortio (istio/tools perf/benchmark)",
        open_loop=False, latency=lat, errors=Errors(total=n_err),
        components=components,
        validity=judge(requested, achieved, n_requests - n_err, n_err, total_requests=n_requests),
        extra=extra,
    )


def _program(role: str, raw: str) -> str:
    if role in ("sidecar", "waypoint"):
        return f"Envoy (istio-proxy; {raw})"
    if role == "ztunnel":
        return f"ztunnel ({raw})"
    if role in ("client_app", "server_app"):
        return f"fortio ({raw})"
    return raw


def _truthy(v: Any) -> bool:
    return str(v).strip().lower() in ("1", "true", "yes")


def _from_doc(doc: Any, where: str, path: Path, mode: str | None,
              placement: str) -> RunRecord:
    if is_own(doc):
        try:
            return RunRecord.model_validate(doc)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = field_path(err["loc"])
            raise BenchError(f"{where}: field {field}: {err['msg']}") from None
    if is_fortio(doc):
        return record_from_fortio(doc, path, mode=mode, placement=placement)
    if is_istio_tools(doc):
        return record_from_istio_tools(doc, where, mode=mode, placement=placement)
    what = "an object without the expected fields" if isinstance(doc, dict) else (
        f"a JSON {type(doc).__name__}")
    raise BenchError(f"{where}: not a fortio, istio/tools or real_bench record ({what})")


def load_file(path: Path, mode: str | None = None, placement: str = "unknown") -> list[RunRecord]:
    """All records in one file, whichever supported format it holds."""
    text = read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise BenchError(f"{path}: empty file")
    if stripped[0] in "{[":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None  # maybe JSON lines
        except RecursionError:
            raise BenchError(f"{path}: JSON nested too deeply") from None
        if isinstance(doc, list):
            return [_from_doc(d, f"{path}[{i}]", path, mode, placement) for i, d in enumerate(doc)]
        if doc is not None:
            return [_from_doc(doc, str(path), path, mode, placement)]
        out = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BenchError(f"{path}:{n}: not JSON: {exc.msg}") from None
            except RecursionError:
                raise BenchError(f"{path}:{n}: JSON nested too deeply") from None
            out.append(_from_doc(d, f"{path}:{n}", path, mode, placement))
        return out
    return _load_csv(path, text, mode, placement)


def _load_csv(path: Path, text: str, mode: str | None, placement: str) -> list[RunRecord]:
    """istio/tools' CSV: a header, then one row per run with exactly the header's fields."""
    reader = csv.reader(text.splitlines())
    try:
        header = next(reader, [])
        if not set(header) >= _ISTIO_KEYS:
            raise BenchError(f"{path}: CSV without the istio/tools columns Labels, p50, ActualQPS")
        records = []
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row:
                continue
            if len(row) != len(header):
                raise BenchError(f"{where}: {len(row)} fields, the header has {len(header)}")
            doc = dict(zip(header, row, strict=True))
            records.append(record_from_istio_tools(doc, where, mode=mode, placement=placement))
    except csv.Error as exc:
        raise BenchError(f"{path}:{reader.line_num}: not CSV: {str(exc)[:60]}") from None
    if not records:
        raise BenchError(f"{path}: CSV header without rows")
    return records


def load_files(paths: Iterable[Path], mode: str | None = None,
               placement: str = "unknown") -> list[RunRecord]:
    records: list[RunRecord] = []
    for p in paths:
        records.extend(load_file(p, mode=mode, placement=placement))
    return records


def to_frame(records: list[RunRecord]):  # type: ignore[no-untyped-def]
    """One row per run (pandas DataFrame)."""
    import pandas as pd

    return pd.DataFrame([r.to_row() for r in records])


# a column's unit is the suffix of its name (the records' own convention)
_UNIT_SUFFIXES = (
    ("_us", "us"),
    ("_mcores", "millicores"),
    ("_millicores", "millicores"),
    ("_mib", "MiB"),
    ("_qps", "requests/s"),
    ("_bytes", "bytes"),
    ("_s", "s"),
)


def column_unit(column: str) -> str:
    """``latency_p99_us`` -> ``us``; '' for labels, counts and ratios."""
    for marker, unit in _UNIT_SUFFIXES:
        if column.endswith(marker) or f"{marker}_" in column:
            return unit
    return ""


def write_table(records: list[RunRecord], out: Path) -> None:
    """CSV, one row per run, written atomically; beside it provenance.json (the same
    convention as meshsim's tables): where the rows came from and each column's unit."""
    from real_bench import __version__

    frame = to_frame(records)
    atomic_write_text(out, frame.to_csv(index=False))
    sources = sorted({r.source_file or r.source for r in records})
    entry = {
        "provenance": {
            "real_bench_version": __version__,
            "records": len(records),
            "sources": sources,
            "latency_unit": "us (microseconds, the load generators' resolution); reports show ms",
        },
        "units": {str(c): column_unit(str(c)) for c in frame.columns},
    }
    sidecar = out.parent / "provenance.json"
    doc: dict[str, Any] = {}
    if sidecar.is_file():
        try:
            doc = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            doc = {}
    tables = doc.get("tables") if isinstance(doc, dict) else None
    tables = tables if isinstance(tables, dict) else {}
    tables[out.name] = entry
    atomic_write_text(sidecar, json.dumps({"convention": CONVENTION, "tables": tables}, indent=2)
                      + "\n")


CONVENTION = (
    "Every table in this folder is a plain CSV: one header row, then data. Its provenance and "
    "the unit of each column are here under tables[<file name>]; a column's unit is also the "
    "suffix of its name (_us microseconds, _mcores millicores, _mib MiB, _qps requests/s)."
)
