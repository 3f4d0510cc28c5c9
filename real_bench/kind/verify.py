"""Checks that a mode is really in place before anything is measured.

A namespace label that Istio ignored, a sidecar injector that did not run, a pod the CNI did
not enrol in ambient or a waypoint that carries no traffic would all produce plausible numbers
for the wrong data path. Each check reads what the cluster reports (pod specs, annotations,
nodes, the waypoint's own request counters) and returns the problems found, in words.
"""

from __future__ import annotations

import re
from typing import Any

from real_bench.kind import manifests

SIDECAR = "istio-proxy"
LINKERD_PROXY = "linkerd-proxy"
AMBIENT_ANNOTATION = "ambient.istio.io/redirection"  # set to "enabled" by istio-cni
WAYPOINT_POD_LABELS = ("gateway.networking.k8s.io/gateway-name", "istio.io/gateway-name")
_REQUESTS = re.compile(r"^istio_requests_total\{([^}]*)\}\s+([0-9.eE+-]+)", re.M)


def _app(pod: dict[str, Any]) -> str:
    return ((pod.get("metadata") or {}).get("labels") or {}).get("app", "")


def _is_waypoint(pod: dict[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return any(labels.get(k) == manifests.WAYPOINT_NAME for k in WAYPOINT_POD_LABELS)


def _has_sidecar(pod: dict[str, Any], name: str = SIDECAR) -> bool:
    spec = pod.get("spec") or {}
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    return any(c.get("name") == name for c in containers)  # native sidecars are init ones


def pod_problems(mode: str, placement: str, waypoint_node: str, pods: dict[str, Any]
                 ) -> list[str]:
    """What is wrong with the pods of one (mode, placement) namespace (`kubectl get pods -o
    json`): empty when the data path is the one the mode names."""
    items = pods.get("items") or []
    fortio = {_app(p): p for p in items if _app(p) in (manifests.SERVER_APP, manifests.CLIENT_APP)}
    problems = [f"no running {app} pod" for app in (manifests.SERVER_APP, manifests.CLIENT_APP)
                if (fortio.get(app) or {}).get("status", {}).get("phase") != "Running"]
    if problems:
        return problems
    node = {app: (p.get("spec") or {}).get("nodeName", "") for app, p in fortio.items()}
    same = node[manifests.SERVER_APP] == node[manifests.CLIENT_APP]
    if same != (placement == "same-node"):
        problems.append(f"client on {node[manifests.CLIENT_APP]}, server on "
                        f"{node[manifests.SERVER_APP]}: not {placement}")
    for app, pod in fortio.items():
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        enrolled = annotations.get(AMBIENT_ANNOTATION) == "enabled"
        if (mode == "sidecar") != _has_sidecar(pod):
            problems.append(f"{app}: {'no' if mode == 'sidecar' else 'an unexpected'} "
                            f"{SIDECAR} sidecar")
        if (mode == "linkerd") != _has_sidecar(pod, LINKERD_PROXY):
            problems.append(f"{app}: {'no' if mode == 'linkerd' else 'an unexpected'} "
                            f"{LINKERD_PROXY} sidecar")
        if (mode in ("ambient", "waypoint")) != enrolled:
            problems.append(f"{app}: {'not' if not enrolled else 'unexpectedly'} enrolled in "
                            f"ambient ({AMBIENT_ANNOTATION})")
    waypoints = [p for p in items if _is_waypoint(p)
                 and (p.get("status") or {}).get("phase") == "Running"]
    if mode != "waypoint" and waypoints:
        problems.append("an unexpected waypoint pod")
    if mode == "waypoint":
        if not waypoints:
            problems.append("no running waypoint pod")
        for wp in waypoints:
            where = (wp.get("spec") or {}).get("nodeName", "")
            if waypoint_node == "own" and where in node.values():
                problems.append(f"waypoint on {where}, a node of the client or server, not a "
                                "node of its own")
            if waypoint_node == "server" and where != node[manifests.SERVER_APP]:
                problems.append(f"waypoint on {where}, not the server's node "
                                f"{node[manifests.SERVER_APP]}")
    return problems


def waypoint_requests(stats: str) -> float:
    """Requests the waypoint counted to the fortio server, from its Prometheus stats."""
    total = 0.0
    for labels, value in _REQUESTS.findall(stats):
        if f'destination_workload="{manifests.SERVER_APP}"' in labels:
            total += float(value)
    return total
