"""CPU and memory per component over a replication's measurement window.

CPU is what the engine measured. Memory is the component cost model's (``components.py``),
fed with the mean number of messages each component held (by Little's law).
"""

from __future__ import annotations

import pandas as pd

from meshsim.components import memory_mib, worker_threads
from meshsim.recorder import Usage
from meshsim.scenario import Params, Scenario
from meshsim.topology import Topology


def component_table(
    scenario: Scenario,
    params: Params,
    topo: Topology,
    usage: dict[str, Usage],
    window: float,
) -> pd.DataFrame:
    """One row per component, then one per node (kind ``node``) with its core utilisation,
    from the usage recorded in a measurement window of ``window`` seconds."""
    rows = []
    node_cpu: dict[str, float] = dict.fromkeys(topo.nodes, 0.0)
    for c in topo.components():
        u = usage[c.name]
        node_cpu[c.node] += u.cpu_s
        workers = worker_threads(scenario, params, topo, c)
        vcpu = u.cpu_s / window if window > 0 else 0.0
        if workers is not None:
            utilisation = u.busy_s / (workers * window) if window > 0 else 0.0
        else:
            utilisation = vcpu / topo.nodes[c.node].cores
        rows.append(
            {
                "component": c.name,
                "kind": c.kind,
                "node": c.node,
                "workers": workers,
                "cpu_s": u.cpu_s,
                "vcpu": vcpu,
                "utilisation": utilisation,
                "memory_mib": memory_mib(
                    scenario, params, topo, c, u.residence_s / window if window > 0 else 0.0
                ),
            }
        )
    for name, node in topo.nodes.items():
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
