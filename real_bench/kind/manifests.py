"""Kubernetes manifests for one kind measurement: namespace, fortio server and client, waypoint.

Built as plain dicts (dumped with yaml.safe_dump) so tests can check them structurally.
Placement follows istio/tools perf/benchmark: the client is kept off the server's node by a
*required* pod anti-affinity on `kubernetes.io/hostname` (cross-node), or put on it by a
required pod affinity (same-node). Both avoid the control-plane node through a node label set
in the kind config (`real-bench/role=worker`). The waypoint is placed through Istio's Gateway
customisation (a ConfigMap overlay on the waypoint Deployment, named by the Gateway's
`spec.infrastructure.parametersRef`): on a worker of its own, or on the server's node; the run
checks where it really landed before measuring.
"""

from __future__ import annotations

from typing import Any

import yaml

HOSTNAME = "kubernetes.io/hostname"
WORKER_LABEL = ("real-bench/role", "worker")
FORTIO_PORT = 8080
SERVER_APP = "fortio-server"
CLIENT_APP = "fortio-client"
WAYPOINT_NAME = "waypoint"
WAYPOINT_PLACEMENT = "waypoint-placement"
WAYPOINT_POD_LABEL = "gateway.networking.k8s.io/gateway-name"
LINKERD_INJECT = "linkerd.io/inject"

Manifest = dict[str, Any]


def namespace_name(mode: str, placement: str) -> str:
    return f"rb-{mode}-{'x' if placement == 'cross-node' else 's'}"


def namespace(mode: str, placement: str, run_id: str) -> Manifest:
    """Mode is selected by namespace labels only, as an Istio user would."""
    labels = {"real-bench/run": run_id, "real-bench/mode": mode}
    annotations: dict[str, str] = {}
    if mode == "sidecar":
        labels["istio-injection"] = "enabled"
    elif mode in ("ambient", "waypoint"):
        labels["istio.io/dataplane-mode"] = "ambient"
    elif mode == "linkerd":  # Linkerd's injector reads an annotation, not a label
        annotations[LINKERD_INJECT] = "enabled"
    # cilium: nothing to set; its eBPF datapath (and WireGuard) carries every pod
    if mode == "waypoint":
        labels["istio.io/use-waypoint"] = WAYPOINT_NAME
    meta: dict[str, Any] = {"name": namespace_name(mode, placement), "labels": labels}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def _resources(cpu: str, mem: str) -> dict[str, Any]:
    # Requests only (Guaranteed QoS would throttle under CFS quota and distort the tail).
    return {"requests": {"cpu": cpu, "memory": mem}}


def _worker_affinity() -> dict[str, Any]:
    key, value = WORKER_LABEL
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [
            {"key": key, "operator": "In", "values": [value]}]}]}}}


def _fortio_deployment(name: str, ns: str, mode: str, run_id: str, image: str,
                       affinity: dict[str, Any], app_cpu: str, app_mem: str,
                       proxy_cpu: str, proxy_mem: str) -> Manifest:
    labels = {"app": name, "real-bench/run": run_id, "real-bench/mode": mode}
    annotations: dict[str, str] = {}
    if mode == "sidecar":
        # Resource requests for the injected istio-proxy (Istio's per-pod override).
        annotations = {"sidecar.istio.io/proxyCPU": proxy_cpu,
                       "sidecar.istio.io/proxyMemory": proxy_mem,
                       "proxy.istio.io/config": '{"concurrency": 2}'}
    elif mode == "linkerd":
        # Linkerd's per-pod proxy resource overrides (its default proxy requests nothing)
        annotations = {"config.linkerd.io/proxy-cpu-request": proxy_cpu,
                       "config.linkerd.io/proxy-memory-request": proxy_mem}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": annotations},
                "spec": {
                    "affinity": affinity,
                    "terminationGracePeriodSeconds": 5,
                    "containers": [{
                        "name": "fortio",
                        "image": image,
                        "args": ["server", "-http-port", str(FORTIO_PORT)],
                        "ports": [{"containerPort": FORTIO_PORT, "name": "http-echo"}],
                        "resources": _resources(app_cpu, app_mem),
                        "readinessProbe": {"httpGet": {"path": "/fortio/",
                                                       "port": FORTIO_PORT},
                                           "periodSeconds": 2},
                    }],
                },
            },
        },
    }


def _away_from_waypoint(aff: dict[str, Any]) -> None:
    """Keep a fortio pod off the waypoint's node (the waypoint gets a node of its own)."""
    term = {"labelSelector": {"matchLabels": {WAYPOINT_POD_LABEL: WAYPOINT_NAME}},
            "topologyKey": HOSTNAME}
    anti = aff.setdefault("podAntiAffinity", {})
    anti.setdefault("requiredDuringSchedulingIgnoredDuringExecution", []).append(term)


def server_deployment(ns: str, mode: str, run_id: str, image: str, waypoint_node: str = "any",
                      **res: str) -> Manifest:
    aff = _worker_affinity()
    if mode == "waypoint" and waypoint_node == "own":
        _away_from_waypoint(aff)
    return _fortio_deployment(SERVER_APP, ns, mode, run_id, image, aff, **res)


def client_deployment(ns: str, mode: str, placement: str, run_id: str, image: str,
                      waypoint_node: str = "any", **res: str) -> Manifest:
    term = {"labelSelector": {"matchLabels": {"app": SERVER_APP}}, "topologyKey": HOSTNAME}
    aff = _worker_affinity()
    if placement == "cross-node":
        aff["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    else:
        aff["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    if mode == "waypoint" and waypoint_node == "own":
        _away_from_waypoint(aff)
    return _fortio_deployment(CLIENT_APP, ns, mode, run_id, image, aff, **res)


def server_service(ns: str, run_id: str) -> Manifest:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": SERVER_APP, "namespace": ns,
                     "labels": {"app": SERVER_APP, "real-bench/run": run_id}},
        "spec": {"selector": {"app": SERVER_APP},
                 "ports": [{"name": "http-echo", "port": FORTIO_PORT,
                            "targetPort": FORTIO_PORT, "appProtocol": "http"}]},
    }


def waypoint_gateway(ns: str, run_id: str, waypoint_node: str = "any") -> Manifest:
    """The waypoint as Istio defines it through the Gateway API (what `istioctl waypoint
    apply` creates): class istio-waypoint, one HBONE listener on 15008; placed by a ConfigMap
    overlay unless it may run anywhere."""
    spec: dict[str, Any] = {"gatewayClassName": "istio-waypoint",
                            "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]}
    if waypoint_node != "any":
        spec["infrastructure"] = {"parametersRef": {"group": "", "kind": "ConfigMap",
                                                    "name": WAYPOINT_PLACEMENT}}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": WAYPOINT_NAME, "namespace": ns,
                     "labels": {"istio.io/waypoint-for": "service",
                                "real-bench/run": run_id}},
        "spec": spec,
    }


def waypoint_placement(ns: str, run_id: str, waypoint_node: str) -> Manifest:
    """The overlay Istio merges into the waypoint Deployment: on a worker, and either away
    from the fortio pods (a node of its own) or beside the server."""
    aff = _worker_affinity()
    if waypoint_node == "own":
        term = {"labelSelector": {"matchExpressions": [
            {"key": "app", "operator": "In", "values": [SERVER_APP, CLIENT_APP]}]},
            "topologyKey": HOSTNAME}
        aff["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    else:
        term = {"labelSelector": {"matchLabels": {"app": SERVER_APP}}, "topologyKey": HOSTNAME}
        aff["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
    overlay = {"spec": {"template": {"spec": {"affinity": aff}}}}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": WAYPOINT_PLACEMENT, "namespace": ns,
                         "labels": {"real-bench/run": run_id}},
            "data": {"deployment": yaml.safe_dump(overlay, sort_keys=False)}}


def for_point(mode: str, placement: str, run_id: str, image: str,
              resources: dict[str, str], waypoint_node: str = "any") -> list[Manifest]:
    """Everything one (mode, placement) needs, in apply order."""
    ns = namespace_name(mode, placement)
    docs = [namespace(mode, placement, run_id)]
    if mode == "waypoint":
        if waypoint_node != "any":
            docs.append(waypoint_placement(ns, run_id, waypoint_node))
        docs.append(waypoint_gateway(ns, run_id, waypoint_node))
    docs += [server_deployment(ns, mode, run_id, image, waypoint_node, **resources),
             server_service(ns, run_id),
             client_deployment(ns, mode, placement, run_id, image, waypoint_node, **resources)]
    return docs
