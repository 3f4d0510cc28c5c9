"""CPU and memory per component over a replication's measurement window.

CPU is what the engine measured. Memory is a model: a base, a part per open connection (taken
as the mean number of requests the component holds, by Little's law), and a part per service
or workload whose configuration it holds (a sidecar sees every service unless scoped).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from meshsim.topology import Component

if TYPE_CHECKING:
    from meshsim.engine import Engine
    from meshsim.recorder import RunRecorder


def visible_config(engine: Engine, component: Component) -> int:
    """How many services (sidecar, waypoint) or workloads (ztunnel) a proxy's config holds."""
    sc, topo = engine.sc, engine.topo
    if component.kind == "ztunnel":
        return sum(len(p) for p in topo.pods.values())
    if component.kind == "waypoint":
        waypoint = topo.pod_by_name[component.pod].service
        return sum(1 for w in topo.waypoint_of.values() if w == waypoint)
    if sc.mesh.config_scope == "cluster":
        return len(sc.services)
    pod = topo.pod_by_name[component.pod]
    if pod.service not in sc.services:  # the load generator sees what it calls
        return 1
    own = sc.services[pod.service]
    called = {c.service for step in own.calls for c in step}
    same_ns = {n for n, s in sc.services.items() if s.namespace == own.namespace}
    return len(same_ns | called)


def component_table(engine: Engine, rec: RunRecorder) -> pd.DataFrame:
    """One row per component, then one per node (kind ``node``) with its core utilisation."""
    window = rec.window_s
    usage = rec.usage_in_window()
    rows = []
    node_cpu: dict[str, float] = dict.fromkeys(engine.topo.nodes, 0.0)
    for c in engine.components:
        u = usage[c.name]
        node_cpu[c.node] += u.cpu_s
        workers = engine.workers.get(c.name)
        vcpu = u.cpu_s / window if window > 0 else 0.0
        if workers is not None:
            utilisation = u.busy_s / (workers.capacity * window) if window > 0 else 0.0
        else:
            utilisation = vcpu / engine.topo.nodes[c.node].cores
        rows.append(
            {
                "component": c.name,
                "kind": c.kind,
                "node": c.node,
                "workers": workers.capacity if workers is not None else None,
                "cpu_s": u.cpu_s,
                "vcpu": vcpu,
                "utilisation": utilisation,
                "memory_mib": memory_mib(engine, c, u.residence_s / window if window > 0 else 0.0),
            }
        )
    for name, node in engine.topo.nodes.items():
        cpu = node_cpu[name]
        rows.append(
            {
                "component": name,
                "kind": "node",
                "node": name,
                "workers": node.cores,
                "cpu_s": cpu,
                "vcpu": cpu / window if window > 0 else 0.0,
                "utilisation": cpu / (node.cores * window) if window > 0 else 0.0,
                "memory_mib": None,
            }
        )
    return pd.DataFrame(rows)


def memory_mib(engine: Engine, c: Component, concurrent: float) -> float:
    if c.kind == "app":
        return engine.sc.services[engine.topo.pod_by_name[c.pod].service].memory_mib
    if c.kind in ("sidecar", "ztunnel", "waypoint"):
        p = getattr(engine.params, c.kind)
        config = visible_config(engine, c)
        return (
            p.memory_base_mib
            + p.memory_per_service_kib * config / 1024
            + p.memory_per_connection_kib * concurrent / 1024
        )
    return 0.0
