"""The normalized run record: one measured load point, whatever produced it.

Every source (fortio JSON from a kind cluster, istio/tools compiled results, the local
namespace backend) is turned into a :class:`RunRecord`. Records are stored one per line
(JSON lines) and flatten to exactly one row of a pandas table (:meth:`RunRecord.to_row`), so
the simulator can be calibrated against a plain CSV without knowing where a number came from.

Units are in the field names or descriptions and never change: latency in microseconds, CPU
in millicores (1000 = one core busy for the whole measured window), memory in MiB.
The JSON Schema (``real-bench schema``) is generated from this module alone; it imports nothing
from ``meshsim``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

Backend = Literal["kind", "local", "external"]
MeshMode = Literal["none", "sidecar", "ambient", "waypoint", "linkerd", "cilium"]
Placement = Literal["same-node", "cross-node", "unknown"]
Role = Literal["client_app", "server_app", "sidecar", "ztunnel", "waypoint", "other"]

PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p75", 75.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p999", 99.9),
)

# Validity thresholds (defaults; each verdict records the thresholds it used).
QPS_TOLERANCE = 0.02
MAX_ERROR_RATIO = 0.001
MIN_SAMPLES = 2000  # p99.9 then rests on at least two samples above it


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Latency(_Model):
    """Latency summary of the successful requests of the measured window, in microseconds."""

    count: int = Field(ge=0, description="requests the percentiles are computed from")
    min_us: float | None = None
    mean_us: float | None = None
    max_us: float | None = None
    p50_us: float
    p75_us: float
    p90_us: float
    p99_us: float
    p999_us: float = Field(description="99.9th percentile")
    stddev_us: float | None = None


class Bucket(_Model):
    """One histogram bucket ]start_us, end_us] holding `count` requests."""

    start_us: float
    end_us: float
    count: int = Field(ge=0)


class Errors(_Model):
    """Failed requests of the measured window. `by_code` keys are HTTP codes or named failures
    (`"-1"` = fortio socket error, `connect`, `read`, `write`, `timeout`, `lost`)."""

    total: int = Field(0, ge=0)
    by_code: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)


class Component(_Model):
    """One process or container on the request path and what it cost during the window."""

    name: str = Field(description="stable id, e.g. client_app, sidecar_client, ztunnel_node1")
    role: Role
    program: str = Field(description="the real program that stood in, with version and mode")
    node: str | None = None
    cpu_millicores: float | None = Field(None, description="mean over the measured window")
    mem_mib: float | None = Field(None, description="resident memory, max over the window")
    mem_mib_avg: float | None = None


class Host(_Model):
    """Where it ran. `background_cpu_millicores` is CPU used by processes not in the run."""

    hostname: str | None = None
    cpu_model: str | None = None
    cores: int | None = None
    kernel: str | None = None
    background_cpu_millicores: float | None = None
    network_rtt_us: float | None = Field(
        None, description="measured client-to-server TCP connect time (no delay emulated)"
    )
    notes: list[str] = Field(default_factory=list)


class Validity(_Model):
    """Can this point be used for calibration? Invalid points are kept, with their reasons."""

    valid: bool
    reasons: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    qps_ratio: float | None = Field(None, description="achieved / requested")
    error_ratio: float
    samples: int
    qps_tolerance: float = QPS_TOLERANCE
    max_error_ratio: float = MAX_ERROR_RATIO
    min_samples: int = MIN_SAMPLES


class RunRecord(_Model):
    """One load point: a fixed requested rate through one mesh data path."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    source: str = Field(description="how the record was obtained: local, kind, fortio-json, ...")
    source_file: str | None = None
    backend: Backend
    mode: MeshMode
    mode_variant: str | None = Field(
        None, description="finer path detail, e.g. 'server-only' (one sidecar)"
    )
    label: str | None = None
    start_time: str | None = Field(None, description="ISO 8601, UTC")
    repetition: int = 0
    requested_qps: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="None means 'max' (closed loop)"
    )
    achieved_qps: float = Field(ge=0, allow_inf_nan=False)
    connections: int = Field(ge=0)
    payload_bytes: int | None = Field(None, description="response body size")
    placement: Placement = "unknown"
    duration_s: float = Field(ge=0, allow_inf_nan=False, description="measured window")
    warmup_s: float = Field(0.0, description="excluded before the window")
    load_generator: str = Field(description="program and pacing, e.g. 'wrk 4.1.0 + open-loop lua'")
    open_loop: bool = Field(description="latency measured from intended send time")
    latency: Latency
    histogram: list[Bucket] = Field(default_factory=list)
    errors: Errors = Field(default_factory=Errors)
    components: list[Component] = Field(default_factory=list)
    host: Host = Field(default_factory=Host)
    tool_versions: dict[str, str] = Field(default_factory=dict)
    validity: Validity
    extra: dict[str, Any] = Field(default_factory=dict, description="source-specific fields")

    def to_row(self) -> dict[str, Any]:
        """Flatten to one table row: scalars only, components as `cpu_mcores_<name>` etc."""
        row: dict[str, Any] = {
            "run_id": self.run_id,
            "source": self.source,
            "source_file": self.source_file,
            "backend": self.backend,
            "mode": self.mode,
            "mode_variant": self.mode_variant,
            "label": self.label,
            "start_time": self.start_time,
            "repetition": self.repetition,
            "requested_qps": self.requested_qps,
            "achieved_qps": self.achieved_qps,
            "connections": self.connections,
            "payload_bytes": self.payload_bytes,
            "placement": self.placement,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "load_generator": self.load_generator,
            "open_loop": self.open_loop,
        }
        for key, value in self.latency.model_dump().items():
            row[f"latency_{key}"] = value
        row["errors_total"] = self.errors.total
        row["errors_by_code"] = json.dumps(self.errors.by_code, sort_keys=True)
        for c in self.components:
            row[f"cpu_mcores_{c.name}"] = c.cpu_millicores
            row[f"mem_mib_{c.name}"] = c.mem_mib
            row[f"program_{c.name}"] = c.program
        proxies = [c for c in self.components if c.role in ("sidecar", "ztunnel", "waypoint")]
        cpus = [c.cpu_millicores for c in proxies if c.cpu_millicores is not None]
        row["proxy_cpu_mcores_total"] = sum(cpus) if proxies and cpus else None
        for key, value in self.host.model_dump().items():
            row[f"host_{key}"] = "; ".join(value) if isinstance(value, list) else value
        for key, value in sorted(self.tool_versions.items()):
            row[f"version_{key}"] = value
        row["valid"] = self.validity.valid
        row["invalid_reasons"] = "; ".join(self.validity.reasons)
        row["warnings"] = "; ".join(self.validity.warnings)
        row["qps_ratio"] = self.validity.qps_ratio
        row["error_ratio"] = self.validity.error_ratio
        row["histogram_us"] = json.dumps(
            [[b.start_us, b.end_us, b.count] for b in self.histogram]
        )
        return row


def judge(
    requested_qps: float | None,
    achieved_qps: float,
    samples: int,
    errors: int,
    total_requests: int | None = None,
    warnings: Sequence[str] = (),
    qps_tolerance: float = QPS_TOLERANCE,
    max_error_ratio: float = MAX_ERROR_RATIO,
    min_samples: int = MIN_SAMPLES,
) -> Validity:
    """Decide validity. A run that missed its rate measured a different (closed-loop) system."""
    reasons: list[str] = []
    ratio: float | None = None
    if not (math.isfinite(achieved_qps) and achieved_qps >= 0) or min(samples, errors) < 0:
        reasons.append("impossible counts or rate (negative or not finite)")
    if requested_qps:
        ratio = achieved_qps / requested_qps
        if abs(ratio - 1.0) > qps_tolerance:
            reasons.append(
                f"achieved {achieved_qps:.1f} qps of {requested_qps:g} requested "
                f"({ratio:.1%}, tolerance ±{qps_tolerance:.0%})"
            )
    total = total_requests if total_requests is not None else samples + errors
    err_ratio = errors / total if total else 1.0
    if err_ratio > max_error_ratio:
        reasons.append(f"error ratio {err_ratio:.4f} > {max_error_ratio}")
    if samples < min_samples:
        reasons.append(f"{samples} samples < {min_samples}")
    return Validity(
        valid=not reasons,
        reasons=reasons,
        warnings=list(warnings),
        qps_ratio=ratio,
        error_ratio=err_ratio,
        samples=samples,
        qps_tolerance=qps_tolerance,
        max_error_ratio=max_error_ratio,
        min_samples=min_samples,
    )


def percentile_nearest_rank(sorted_values: Sequence[float], pct: float) -> float:
    """Exact percentile of raw samples (nearest rank, no interpolation)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct * len(sorted_values) / 100.0 - 1e-9))  # float-safe
    return float(sorted_values[min(rank, len(sorted_values)) - 1])


def latency_from_samples(values_us: Sequence[float]) -> tuple[Latency, list[Bucket]]:
    """Summarize raw per-request latencies (µs) and bucket them on a log scale."""
    vals = sorted(values_us)
    n = len(vals)
    if n == 0:
        nan = math.nan
        return Latency(count=0, min_us=nan, mean_us=nan, max_us=nan, p50_us=nan, p75_us=nan,
                       p90_us=nan, p99_us=nan, p999_us=nan), []
    mean = sum(vals) / n
    var = sum((v - mean) ** 2 for v in vals) / n
    lat = Latency(
        count=n,
        min_us=vals[0],
        mean_us=mean,
        max_us=vals[-1],
        stddev_us=math.sqrt(var),
        **{f"{k}_us": percentile_nearest_rank(vals, p) for k, p in PERCENTILES},
    )
    return lat, log_buckets(vals)


def log_buckets(sorted_vals: Sequence[float], per_decade: int = 20) -> list[Bucket]:
    """Histogram with `per_decade` log-spaced buckets per decade (≈12% wide), empty ones dropped."""
    buckets: dict[int, int] = {}
    for v in sorted_vals:
        idx = math.floor(math.log10(max(v, 1.0)) * per_decade)
        buckets[idx] = buckets.get(idx, 0) + 1
    return [
        Bucket(
            start_us=round(10 ** (i / per_decade), 3),
            end_us=round(10 ** ((i + 1) / per_decade), 3),
            count=c,
        )
        for i, c in sorted(buckets.items())
    ]


def json_schema() -> dict[str, Any]:
    """JSON Schema of one record line (draft 2020-12, as pydantic emits it)."""
    schema = RunRecord.model_json_schema()
    schema["$id"] = "https://meshsim.invalid/real_bench/run-record.schema.json"
    schema["title"] = f"real_bench RunRecord v{SCHEMA_VERSION}"
    return schema


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temp file beside `path`, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: Path, records: Iterable[RunRecord]) -> None:
    atomic_write_text(path, "".join(r.model_dump_json() + "\n" for r in records))


def read_jsonl(path: Path) -> list[RunRecord]:
    """Records of a JSON lines file; a bad line is a one-line BenchError naming it."""
    from pydantic import ValidationError

    from real_bench.errors import BenchError
    from real_bench.files import field_path, read_text

    out = []
    for n, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(RunRecord.model_validate_json(line))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = field_path(err["loc"])
            msg = str(err["msg"]) if err["type"] != "json_invalid" else "not JSON"
            raise BenchError(f"{path}:{n}: field {field}: {msg}" if field else
                             f"{path}:{n}: {msg}") from None
        except RecursionError:
            raise BenchError(f"{path}:{n}: JSON nested too deeply") from None
    return out
