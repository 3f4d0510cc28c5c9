"""Latency the mesh adds on the 3-tier runs, predicted and measured, and the sidecar/ambient
ratio of it (issue 10's multi-hop target), computed from this folder's validation.csv.

    .venv/bin/python reports/validation/real-bench-local-hbone-3tier/added_latency.py [FOLDER]

writes added-latency.csv beside it (or in FOLDER, from FOLDER's validation.csv): per rate,
percentile and mode, the p50/p90 of the mode minus the no-mesh one (ms), meshsim's and the
measured; and per rate and percentile the ratios sidecar/ambient and waypoint/ambient, with the
predicted ratio's error against the measured one (%)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def added_latency(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    scored = table[table["set"] != "dropped"]
    for (qps, metric), group in scored[scored["metric"].isin(["p50", "p90"])].groupby(
        ["requested_qps", "metric"]
    ):
        by_mode = group.set_index("mode")
        if "none" not in by_mode.index:
            continue
        added = {
            source: {
                mode: float(by_mode.loc[mode, source] - by_mode.loc["none", source])
                for mode in ("sidecar", "ambient", "waypoint")
                if mode in by_mode.index
            }
            for source in ("meshsim", "measured")
        }
        for mode in added["measured"]:
            rows.append(
                {
                    "requested_qps": qps,
                    "metric": metric,
                    "what": f"added_ms_{mode}",
                    "meshsim": round(added["meshsim"][mode], 4),
                    "measured": round(added["measured"][mode], 4),
                }
            )
        for mode in ("sidecar", "waypoint"):
            if mode in added["measured"] and "ambient" in added["measured"]:
                ratio = {s: added[s][mode] / added[s]["ambient"] for s in added}
                rows.append(
                    {
                        "requested_qps": qps,
                        "metric": metric,
                        "what": f"ratio_{mode}_to_ambient",
                        "meshsim": round(ratio["meshsim"], 4),
                        "measured": round(ratio["measured"], 4),
                    }
                )
    out = pd.DataFrame(rows)
    out["error_pct"] = ((out["meshsim"] / out["measured"] - 1) * 100).round(1)
    return out


def main(folder: Path = HERE) -> None:
    table = pd.read_csv(folder / "validation.csv", comment="#")
    added_latency(table).to_csv(folder / "added-latency.csv", index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
