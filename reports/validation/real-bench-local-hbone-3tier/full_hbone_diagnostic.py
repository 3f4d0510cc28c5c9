"""Diagnostic: how much of the ambient result on the 3-tier runs is the same-node path.

The stand-in sends a same-node call through the node's full HBONE path (redsocks + nghttpx
out, then nghttpx + tinyproxy in, with TLS), and so does the 3-tier template
(``mesh.ambient_same_node: tunnel``). Three of the five 3-tier hops are same-node. This
simulates the template with the fitted profile three ways per rate: as measured with the
same-node shortcut (``ambient_same_node=local``: one ztunnel pass without TLS, the old
ztunnel fast path), as measured with the template's tunnel, and with a on node2 and b2 on node1,
where every hop crosses nodes (on shared cores the node a pod sits on changes nothing else).
Written: full-hbone-diagnostic.csv: p50, p90 (ms) and ztunnel CPU (mcores) per variant
(column ``placement``), mode and rate; the p50 each mode adds to no mesh (ms), and the
sidecar/ambient ratio of it beside the measured one (from validation.csv) and its error (%).

    .venv/bin/python reports/validation/real-bench-local-hbone-3tier/full_hbone_diagnostic.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from meshsim import simulate
from meshsim.calibrate import simulated_metrics
from meshsim.validate import template_for

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PROFILE = ROOT / "reports/validation/real-bench-local-hbone/profile.yaml"
TEMPLATE = ROOT / "scenarios/calibration/real-bench-local-3tier.yaml"
PLACEMENTS = {
    "as measured, same-node shortcut": ("mesh.ambient_same_node=local",),
    "as measured, same-node tunnel": (),
    "every hop cross-node": ("services.a.nodes=[node2]", "services.b2.nodes=[node1]"),
}


def main() -> None:
    template = template_for(PROFILE, str(TEMPLATE))
    rows = []
    for placement, changes in PLACEMENTS.items():
        for mode in ("none", "sidecar", "ambient"):
            for qps in (200, 500):
                loaded = template.with_changes(
                    *changes,
                    f"mesh.mode={mode}",
                    f"workload.generator.qps={qps}",
                    "workload.duration_s=3",
                )
                m = simulated_metrics(simulate(loaded))
                rows.append(
                    {
                        "placement": placement,
                        "mode": mode,
                        "requested_qps": qps,
                        "p50_ms": round(m["p50"], 4),
                        "p90_ms": round(m["p90"], 4),
                        "cpu_ztunnel_mcores": round(m["cpu_ztunnel"], 1),
                    }
                )
    out = pd.DataFrame(rows)
    measured = pd.read_csv(HERE / "validation.csv", comment="#")
    measured = measured[measured["metric"] == "p50"].set_index(["mode", "requested_qps"])
    ratios = []
    for (placement, qps), group in out.groupby(["placement", "requested_qps"], sort=False):
        p50 = group.set_index("mode")["p50_ms"]
        real = measured.xs(float(qps), level="requested_qps")["measured"]
        added = {m: p50[m] - p50["none"] for m in ("sidecar", "ambient")}
        ratio = added["sidecar"] / added["ambient"]
        ratio_real = (real["sidecar"] - real["none"]) / (real["ambient"] - real["none"])
        ratios.append(
            {
                "placement": placement,
                "requested_qps": qps,
                "added_p50_ms_sidecar": round(added["sidecar"], 4),
                "added_p50_ms_ambient": round(added["ambient"], 4),
                "ratio_sidecar_to_ambient": round(ratio, 4),
                "measured_ratio_sidecar_to_ambient": round(ratio_real, 4),
                "ratio_error_pct": round((ratio / ratio_real - 1) * 100, 1),
            }
        )
    out = pd.concat([out, pd.DataFrame(ratios)], ignore_index=True)
    out.to_csv(HERE / "full-hbone-diagnostic.csv", index=False)


if __name__ == "__main__":
    main()
