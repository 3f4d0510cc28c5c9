"""Analytic engine against the DES: every shipped scenario, every mode, one table.

    python benchmarks/validate_analytic.py [--out benchmarks/results/analytic_validation.json]

Runs each scenario (scenarios/*.yaml; not fleet.yaml, which the DES refuses, nor
cve-rollout.yaml, whose events the analytic engine refuses) in each mode
with the DES (its own replications and duration) and the analytic engine, and records the
relative error of the analytic mean, p50, p90 and p99 against the DES, with the busiest
station's utilisation. The figures in benchmarks/README.md come from this script.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import meshsim
from meshsim.domain import MODES

ROOT = Path(__file__).resolve().parents[1]
STATS = ("mean", "p50", "p90", "p99")
SKIP = {"fleet.yaml", "cve-rollout.yaml"}


def compare_engines(path: Path, mode: str, overrides: list[str] | None = None) -> dict:
    loaded = meshsim.change(meshsim.load(path, overrides or []), mesh={"mode": mode})
    started = time.perf_counter()
    des = meshsim.simulate(loaded)
    des_s = time.perf_counter() - started
    started = time.perf_counter()
    ana = meshsim.simulate(loaded, engine="analytic")
    ana_s = time.perf_counter() - started
    d, a = des.latency()["ms"], ana.latency()["ms"]
    return {
        "scenario": path.name,
        "mode": mode,
        "utilisation": ana.verdict()["bottleneck_utilisation"],
        "bottleneck": ana.verdict()["bottleneck"],
        "des_ms": {k: float(d[k]) for k in STATS},
        "analytic_ms": {k: float(a[k]) for k in STATS},
        "error_pct": {k: 100 * (float(a[k]) / float(d[k]) - 1) for k in STATS},
        "des_wall_s": des_s,
        "analytic_wall_s": ana_s,
    }


def reanalyse(out: Path) -> None:
    """The analytic side again, against the DES figures already in ``out``."""
    doc = json.loads(out.read_text())
    for row in doc["rows"]:
        loaded = meshsim.load(ROOT / "scenarios" / row["scenario"])
        loaded = meshsim.change(loaded, mesh={"mode": row["mode"]})
        started = time.perf_counter()
        ana = meshsim.simulate(loaded, engine="analytic")
        row["analytic_wall_s"] = time.perf_counter() - started
        a = ana.latency()["ms"]
        row["analytic_ms"] = {k: float(a[k]) for k in STATS}
        row["error_pct"] = {k: 100 * (row["analytic_ms"][k] / row["des_ms"][k] - 1) for k in STATS}
        err = " ".join(f"{k} {row['error_pct'][k]:+6.1f}%" for k in STATS)
        print(f"{row['scenario']:22} {row['mode']:9} rho {row['utilisation']:.2f}  {err}")
    out.write_text(json.dumps(doc, indent=1) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/analytic_validation.json"))
    ap.add_argument("--scenarios", nargs="*")
    ap.add_argument(
        "--reuse-des",
        action="store_true",
        help="keep the DES figures of --out and solve the analytic side again",
    )
    args = ap.parse_args()
    if args.reuse_des:
        reanalyse(Path(args.out))
        return
    paths = (
        [ROOT / "scenarios" / s for s in args.scenarios]
        if args.scenarios
        else sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if p.name not in SKIP)
    )
    rows = []
    for path in paths:
        for mode in MODES:
            row = compare_engines(path, mode)
            rows.append(row)
            err = " ".join(f"{k} {row['error_pct'][k]:+6.1f}%" for k in STATS)
            print(f"{path.name:22} {mode:9} rho {row['utilisation']:.2f}  {err}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
