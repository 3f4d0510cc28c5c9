"""Container CPU and memory from the kubelet's cAdvisor endpoint (what Istio's harness uses).

CPU is the counter `container_cpu_usage_seconds_total` read before and after the measured
window (exact, no sampling); memory is `container_memory_working_set_bytes`, sampled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r'^(container_cpu_usage_seconds_total|container_memory_working_set_bytes)'
                   r'\{([^}]*)\}\s+([0-9.eE+-]+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Key:
    namespace: str
    pod: str
    container: str


def parse_cadvisor(text: str) -> dict[Key, dict[str, float]]:
    """{(namespace, pod, container): {"cpu_s": ..., "mem_bytes": ...}} for real containers."""
    out: dict[Key, dict[str, float]] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group(2)))
        container = labels.get("container", "")
        if not container or container == "POD" or not labels.get("pod"):
            continue
        key = Key(labels.get("namespace", ""), labels["pod"], container)
        field = "cpu_s" if m.group(1).startswith("container_cpu") else "mem_bytes"
        out.setdefault(key, {})[field] = float(m.group(3))
    return out


def cpu_millicores(before: dict[Key, dict[str, float]], after: dict[Key, dict[str, float]],
                   seconds: float) -> dict[Key, float]:
    res = {}
    for key, vals in after.items():
        if "cpu_s" in vals and "cpu_s" in before.get(key, {}):
            res[key] = (vals["cpu_s"] - before[key]["cpu_s"]) / seconds * 1000.0
    return res
