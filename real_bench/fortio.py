"""fortio `load -json` results -> RunRecord.

fortio's JSON (checked on 1.3.1 and the current format): latencies in seconds (float),
`ActualDuration` in nanoseconds, `RequestedQPS` a string ("1000" or "max"), `RetCodes` keyed by
strings ("-1" = socket error), histogram buckets ``]Start, End]`` with *cumulative* `Percent`.
Fields added by later versions (`ErrorsDurationHistogram`, `Uniform`, `Jitter`, `NoCatchUp`,
`RunID`, `ConnectionStats`, ...) are optional: read when present, never required.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from real_bench.errors import BenchError
from real_bench.files import excerpt, validation_error
from real_bench.record import (
    PERCENTILES,
    Bucket,
    Errors,
    Latency,
    RunRecord,
    judge,
)

OK_CODES = {"200", "SERVING", "OK"}


def calc_percentile(hist: dict[str, Any], percentile: float) -> float:
    """fortio's `HistogramData.CalcPercentile`, operation for operation (same float results).

    Linear interpolation inside the bucket holding the percentile, from the previous bucket's
    cumulative percent; the minimum is assumed to hold at least one point (1/Count %).
    """
    data = hist.get("Data") or []
    if not data:
        return 0.0
    if percentile >= 100:
        return float(hist["Max"])
    pp = 100.0 / float(hist["Count"])
    if percentile <= pp:
        return float(hist["Min"])
    for cur in data:
        if percentile <= cur["Percent"]:
            return cur["Start"] + (percentile - pp) / (cur["Percent"] - pp) * (
                cur["End"] - cur["Start"])
        pp = cur["Percent"]
    return float(hist["Max"])


_MODE_WORDS = [
    (re.compile(r"(^|_)(base|baseline|none|nomesh|plaintext)$"), "none", None),
    (re.compile(r"(^|_)serveronly$"), "sidecar", "server-only"),
    (re.compile(r"(^|_)clientonly$"), "sidecar", "client-only"),
    (re.compile(r"(^|_)nomixer_both$"), "sidecar", "both, no mixer"),
    (re.compile(r"(^|_)(both|sidecar)$"), "sidecar", "both"),
    (re.compile(r"(^|_)(waypoint|ambient_waypoint)$"), "waypoint", None),
    (re.compile(r"(^|_)(ambient|ztunnel)$"), "ambient", None),
]


def mode_from_label(label: str) -> tuple[str, str | None] | None:
    """istio/tools labels end in the path variant: `<runid>_qps_1000_c_16_1024_both`."""
    low = label.lower().strip()
    for rx, mode, variant in _MODE_WORDS:
        if rx.search(low):
            return mode, variant
    return None


def _req_qps(value: Any, where: str) -> float | None:
    """None for fortio's closed-loop "max" (also written 0 or -1)."""
    if value in (None, "", "max", -1, "-1", 0, "0"):
        return None
    q = number(value, where, "RequestedQPS")
    if q == 0:
        return None
    return q


def number(value: Any, where: str, field: str, minimum: float = 0.0) -> float:
    """A finite number >= ``minimum`` read from a result file, or a one-line BenchError."""
    if isinstance(value, bool):
        raise BenchError(f"{where}: field {field}: not a number: {excerpt(value)}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BenchError(f"{where}: field {field}: not a number: {excerpt(value)}") from None
    if not math.isfinite(x):
        raise BenchError(f"{where}: field {field}: not a finite number: {excerpt(value)}")
    if x < minimum:
        raise BenchError(f"{where}: field {field}: {x:g} is below {minimum:g}")
    return x


def count(value: Any, where: str, field: str, minimum: int = 0) -> int:
    """A whole number of requests >= ``minimum``, or a one-line BenchError."""
    x = number(value, where, field, minimum)
    if x != int(x):
        raise BenchError(f"{where}: field {field}: not a whole number: {x:g}")
    return int(x)


def _num(doc: dict[str, Any], key: str, where: str) -> float:
    if key not in doc:
        raise BenchError(f"{where}: missing field {key}")
    return number(doc[key], where, key)


def _check_histogram(hist: dict[str, Any], where: str) -> None:
    """Counts whole and non-negative, bucket edges finite and ordered, percents cumulative."""
    total = count(hist["Count"], where, "DurationHistogram.Count", minimum=1)
    data = hist.get("Data")
    if not isinstance(data, list) or not data:
        raise BenchError(f"{where}: field DurationHistogram.Data: missing or empty")
    seen, last_pct = 0, 0.0
    for i, bucket in enumerate(data):
        field = f"DurationHistogram.Data.{i}"
        if not isinstance(bucket, dict):
            raise BenchError(f"{where}: field {field}: not a bucket object")
        for key in ("Start", "End", "Percent", "Count"):
            if key not in bucket:
                raise BenchError(f"{where}: field {field}: missing {key}")
        start = number(bucket["Start"], where, f"{field}.Start")
        if number(bucket["End"], where, f"{field}.End") < start:
            raise BenchError(f"{where}: field {field}.End: below Start")
        pct = number(bucket["Percent"], where, f"{field}.Percent")
        if pct < last_pct or pct > 100.0 + 1e-9:
            raise BenchError(f"{where}: field {field}.Percent: not cumulative within 0-100")
        last_pct = pct
        seen += count(bucket["Count"], where, f"{field}.Count")
    if seen != total:
        raise BenchError(
            f"{where}: field DurationHistogram.Count: {total}, but the buckets hold {seen}"
        )
    for i, entry in enumerate(hist.get("Percentiles") or []):
        field = f"DurationHistogram.Percentiles.{i}"
        if not isinstance(entry, dict) or not {"Percentile", "Value"} <= set(entry):
            raise BenchError(f"{where}: field {field}: expected Percentile and Value")
        number(entry["Percentile"], where, f"{field}.Percentile")
        number(entry["Value"], where, f"{field}.Value")


def is_fortio(doc: Any) -> bool:
    return isinstance(doc, dict) and "DurationHistogram" in doc and "RunType" in doc


def record_from_fortio(doc: dict[str, Any], path: Path, mode: str | None = None,
                       placement: str = "unknown") -> RunRecord:
    """Normalize one fortio result. `mode` overrides what the label says."""
    where = str(path)
    hist = doc.get("DurationHistogram")
    if not isinstance(hist, dict) or "Count" not in hist:
        raise BenchError(f"{where}: field DurationHistogram: missing or without Count")
    label = str(doc.get("Labels") or path.stem)
    if mode is None:
        found = mode_from_label(label) or mode_from_label(path.stem)
        if not found:
            raise BenchError(f"{where}: field Labels: cannot tell the mesh mode from "
                             f"{excerpt(label)} (pass --mode)")
        mode, variant = found
    else:
        variant = None
    requested = _req_qps(doc.get("RequestedQPS"), where)
    achieved = _num(doc, "ActualQPS", where)
    duration_s = _num(doc, "ActualDuration", where) / 1e9
    if duration_s <= 0:
        raise BenchError(f"{where}: field ActualDuration: must be > 0")
    for key in ("Min", "Max", "Avg"):
        if key not in hist:
            raise BenchError(f"{where}: missing field DurationHistogram.{key}")
        number(hist[key], where, f"DurationHistogram.{key}")
    if "StdDev" in hist:
        number(hist["StdDev"], where, "DurationHistogram.StdDev")
    _check_histogram(hist, where)
    codes = doc.get("RetCodes") or {}
    if not isinstance(codes, dict):
        raise BenchError(f"{where}: field RetCodes: not an object")
    for code, n in codes.items():
        count(n, where, f"RetCodes.{excerpt(code, 12, quote=False)}")
    for key in ("Sizes", "HeaderSizes"):
        part = doc.get(key) or {}
        if not isinstance(part, dict):
            raise BenchError(f"{where}: field {key}: not an object")
        if "Avg" in part:
            number(part["Avg"], where, f"{key}.Avg")
    if doc.get("NumThreads") is not None:
        count(doc["NumThreads"], where, "NumThreads")
    try:
        return _build(doc, hist, path, label, mode, variant, placement, requested, achieved,
                      duration_s)
    except ValidationError as exc:  # e.g. StartTime not text
        raise validation_error(where, exc) from None
    except (KeyError, TypeError, ValueError) as exc:  # a shape the checks above did not foresee
        raise BenchError(f"{where}: malformed fortio result ({type(exc).__name__})") from None


def _build(doc: dict[str, Any], hist: dict[str, Any], path: Path, label: str, mode: str,
           variant: str | None, placement: str, requested: float | None, achieved: float,
           duration_s: float) -> RunRecord:
    count = int(hist["Count"])
    stored = {float(p["Percentile"]): float(p["Value"]) for p in hist.get("Percentiles") or []}
    pct = {}
    for key, p in PERCENTILES:
        v = stored.get(p)
        pct[f"{key}_us"] = (v if v is not None else calc_percentile(hist, p)) * 1e6
    lat = Latency(count=count, min_us=float(hist["Min"]) * 1e6, mean_us=float(hist["Avg"]) * 1e6,
                  max_us=float(hist["Max"]) * 1e6,
                  stddev_us=float(hist["StdDev"]) * 1e6 if "StdDev" in hist else None, **pct)
    buckets = [Bucket(start_us=b["Start"] * 1e6, end_us=b["End"] * 1e6, count=int(b["Count"]))
               for b in hist.get("Data") or []]
    codes = {str(k): int(v) for k, v in (doc.get("RetCodes") or {}).items()}
    errs = {k: v for k, v in codes.items() if k not in OK_CODES}
    sizes, headers = doc.get("Sizes") or {}, doc.get("HeaderSizes") or {}
    payload = None
    if "Avg" in sizes:
        payload = round(float(sizes["Avg"]) - float(headers.get("Avg", 0.0)))
    n_err = sum(errs.values())
    flags = {k: doc[k] for k in ("Uniform", "Jitter", "NoCatchUp", "Exactly", "RunID", "ID")
             if k in doc}
    pacing = "closed loop per connection, catch-up pacing"
    if doc.get("Uniform"):
        pacing += ", uniform start"
    if doc.get("NoCatchUp"):
        pacing = pacing.replace("catch-up", "no catch-up")
    return RunRecord(
        run_id=f"fortio-{doc.get('RunID') or ''}{label}".replace("--", "-"),
        source="fortio-json", source_file=path.name, backend="external",
        mode=mode,  # type: ignore[arg-type]
        mode_variant=variant, label=label, start_time=doc.get("StartTime"),
        requested_qps=requested, achieved_qps=achieved,
        connections=int(doc.get("NumThreads") or 0), payload_bytes=payload,
        placement=placement,  # type: ignore[arg-type]
        duration_s=duration_s, warmup_s=0.0,
        load_generator=f"fortio {doc.get('Version', '?')} ({pacing})", open_loop=False,
        latency=lat, histogram=buckets, errors=Errors(total=n_err, by_code=errs),
        tool_versions={"fortio": str(doc.get("Version", "unknown"))},
        validity=judge(requested, achieved, count - n_err, n_err, total_requests=count),
        extra={"url": doc.get("URL"), "ret_codes": codes, "socket_count": doc.get("SocketCount"),
               "requested_duration": doc.get("RequestedDuration"),
               "response_bytes_avg": sizes.get("Avg"), "header_bytes_avg": headers.get("Avg"),
               **flags},
    )
