"""The four-way tables of reports/four-meshes/README.md: each data plane at a low and a high
load, and with Cilium's shared per-node Envoy on the path as the node gets hot.

    .venv/bin/python scripts/four_meshes_tables.py > reports/four-meshes/tables.md

Every number comes from ``meshsim.compare`` on ``scenarios/four-meshes.yaml`` with the
overrides printed above each table (same seed, common random numbers across modes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

import meshsim
from meshsim import cost
from meshsim.artifacts import hop_breakdown
from meshsim.markdown import markdown_table

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "four-meshes.yaml"
MODES = ["none", "sidecar", "ambient", "linkerd", "cilium"]
RUN = ["sim.replications=2", "workload.duration_s=5", "workload.warmup_s=0.5"]
LOADS = [(100, 10), (1000, 64), (4000, 64)]  # (qps, connections)
HOT = [1000, 4000, 8000, 16000]  # qps through the node's shared proxies, 64 connections


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _row(mode: str, table: pd.Series, est: cost.CostEstimate) -> dict[str, object]:
    s = est.summary()
    return {
        "mode": mode,
        "p50 (ms)": table["p50_ms"],
        "p99 (ms)": table["p99_ms"],
        "added p50 (ms)": table["added_p50_ms"],
        "added p99 (ms)": table["added_p99_ms"],
        "mesh vCPU": table["vcpu_mesh"],
        "kernel vCPU": table["vcpu_kernel"],
        "mesh memory (MiB)": table["memory_mib_mesh"],
        "mesh requests (vCPU)": s["mesh_requested_vcpu"],
        "mesh requests (MiB)": s["mesh_requested_gib"] * cost.MIB_PER_GIB,
        "busiest": f"{table['bottleneck']}",
        "verdict": table["verdict"],
    }


def main() -> int:
    out = ["# Four data planes on one node: the tables", ""]
    out.append(
        f"Scenario `{SCENARIO.relative_to(ROOT)}`, overrides `{' '.join(RUN)}`; "
        "meshsim " + meshsim.__version__ + ". Latency in ms; vCPU = cores busy on "
        "average; memory and requests of the mesh's own parts (proxies, agents, control "
        "plane); Cilium's eBPF work is in the kernel column."
    )
    for qps, conns in LOADS:
        extra = [f"workload.generator.qps={qps}", f"workload.generator.connections={conns}"]
        loaded = meshsim.load(SCENARIO, [*RUN, *extra])
        comp = meshsim.compare(loaded, MODES)
        table = comp.table().set_index("mode")
        rows = [_row(m, table.loc[m], cost.estimate(r.loaded, r)) for m, r in comp.results.items()]
        out += ["", f"## {qps:g} qps over {conns} connections (`{' '.join(extra)}`)", ""]
        out.append(markdown_table(pd.DataFrame(rows), _cell))
        out += ["", "Per-hop time per request (ms):", ""]
        out.append(markdown_table(hop_breakdown(comp).reset_index(), _cell))
    out += [
        "",
        "## A hot shared proxy: Cilium with L7 policy on the server",
        "",
        "`mesh.cilium.l7_services=[server]`: every call to the server passes the node's "
        "one cilium-envoy, shared by every pod on the node; ambient's one ztunnel is shared "
        "the same way; Linkerd's and the sidecars' proxies belong to one pod each. Per-hop "
        "queue wait (ms, mean per visit) at each mode's proxies as the rate through the "
        "node grows (64 connections):",
        "",
    ]
    rows = []
    for qps in HOT:
        extra = [f"workload.generator.qps={qps}", "mesh.cilium.l7_services=[server]"]
        comp = meshsim.compare(meshsim.load(SCENARIO, [*RUN, *extra]), MODES[1:])
        for mode, result in comp.results.items():
            hops = result.hops().set_index("hop")
            proxy = [
                h
                for h in hops.index
                if h not in ("app", "kernel", "network", "cilium_ebpf", "node_encryption")
            ]
            verdict = result.verdict()
            rows.append(
                {
                    "qps": qps,
                    "mode": mode,
                    "proxy hops": ", ".join(proxy),
                    "wait per visit (ms)": float(hops.loc[proxy, "wait_mean_ms"].max()),
                    "time in proxies per request (ms)": float(
                        hops.loc[proxy, "per_request_ms"].sum()
                    ),
                    "p99 (ms)": float(result.latency().loc["p99", "ms"]),
                    "busiest": verdict["bottleneck"],
                    "its utilisation": verdict["bottleneck_utilisation"],
                    "verdict": verdict["status"],
                }
            )
    out.append(markdown_table(pd.DataFrame(rows), _cell))
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
