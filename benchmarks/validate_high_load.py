"""The analytic engine against the DES above utilisation 0.8 (where the targets do not apply).

    python benchmarks/validate_high_load.py

Each case is a shipped scenario at a raised rate (sidecar mode for quickstart), simulated with
the scenario's own replications; prints the busiest station's utilisation and the relative
errors of the analytic mean, p50, p90 and p99. Figures in benchmarks/README.md.
"""

from __future__ import annotations

from pathlib import Path

from validate_analytic import STATS, compare_engines

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("mm1.yaml", "none", ["workload.generator.rate_rps=900", "workload.duration_s=30"]),
    ("mmc.yaml", "none", ["workload.generator.rate_rps=2700"]),
    ("jackson-tandem.yaml", "none", ["workload.generator.rate_rps=600", "workload.duration_s=30"]),
    ("quickstart.yaml", "sidecar", ["workload.generator.rate_rps=800"]),
]


def main() -> None:
    for name, mode, overrides in CASES:
        row = compare_engines(ROOT / "scenarios" / name, mode, overrides)
        err = " ".join(f"{k} {row['error_pct'][k]:+6.1f}%" for k in STATS)
        print(f"{name:20} {mode:8} {' '.join(overrides):60} rho {row['utilisation']:.2f}  {err}")


if __name__ == "__main__":
    main()
