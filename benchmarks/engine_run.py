"""One replication of one scenario and mode, nothing else: a target for instruction counting.

    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \\
        .venv/bin/python benchmarks/engine_run.py scenarios/fortio-2pod.yaml ambient 8

With a duration of 1 s or less the engine is built but not run, so the difference between a
run of 8 s and one of 0.5 s is the instructions the simulation itself executed (imports and
loading cancel out). Instruction counts hardly move with the machine's load, unlike wall time.
"""

from __future__ import annotations

import sys

from meshsim.engine import Engine
from meshsim.loader import load_scenario


def main() -> int:
    scenario, mode, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
    loaded = load_scenario(
        scenario, [f"workload.duration_s={duration}", "workload.warmup_s=0", f"mesh.mode={mode}"]
    )
    engine = Engine(loaded, 0)
    if duration > 1:
        engine.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
