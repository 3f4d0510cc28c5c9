"""Wall-clock seconds to place a large cluster with ``spread`` (kube-scheduler-like) placement.

    .venv/bin/python benchmarks/bench_placement.py [--nodes 1000] [--services 490] [--replicas 100]

One gateway pod per node, then every replica of every service, in two zones: with the defaults,
1,000 nodes and 50,000 pods. Placement keeps one heap per zone, so the cost per pod grows with
log(nodes), not with the number of nodes.
"""

from __future__ import annotations

import argparse
import time

from meshsim.loader import load_scenario_dict
from meshsim.topology import Topology


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--services", type=int, default=490)
    ap.add_argument("--replicas", type=int, default=100)
    args = ap.parse_args()
    services: dict = {"gateway": {"replicas": args.nodes, "calls": [{"service": "svc-0"}]}}
    services |= {f"svc-{i}": {"replicas": args.replicas} for i in range(args.services)}
    half = args.nodes // 2
    loaded = load_scenario_dict(
        {
            "name": "placement-benchmark",
            "cluster": {
                "nodes": [
                    {"name": "a", "count": half, "cores": 8, "zone": "zone-a"},
                    {"name": "b", "count": args.nodes - half, "cores": 8, "zone": "zone-b"},
                ]
            },
            "services": services,
            "workload": {
                "entry": "gateway",
                "generator": {"type": "open", "rate_rps": 1},
                "requests": 1,
            },
        }
    )
    start = time.perf_counter()
    topo = Topology(loaded.scenario, loaded.params)
    wall = time.perf_counter() - start
    pods = len(topo.all_pods())
    print(
        f"{pods} pods on {args.nodes} nodes placed in {wall:.3f} s ({wall / pods * 1e6:.1f} us/pod)"
    )


if __name__ == "__main__":
    main()
