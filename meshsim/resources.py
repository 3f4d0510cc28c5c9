"""CPU and memory per component over a replication's measurement window.

CPU is what the engine measured. Memory is the component cost model's (``components.py``),
fed with the mean number of messages each component held (by Little's law).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from meshsim.components import memory_mib

if TYPE_CHECKING:
    from meshsim.engine import Engine
    from meshsim.recorder import RunRecorder


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
                "memory_mib": memory_mib(
                    engine.sc,
                    engine.params,
                    engine.topo,
                    c,
                    u.residence_s / window if window > 0 else 0.0,
                ),
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
