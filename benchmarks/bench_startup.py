"""Start-up time of the command line: ``meshsim --help`` and ``meshsim check``, against the
interpreter's own start-up measured in the same run.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 15] [--src DIR] [--out FILE]

Each command runs ``--repeat`` times in a fresh process (``python -m meshsim.cli ...``, as the
``meshsim`` script does, with ``DIR`` first on the path when ``--src`` is given, to time another
checkout) and its wall time is taken around ``subprocess.run``. The baseline, ``python -c pass``,
is what any Python program pays; the figures to compare are the medians, and the medians minus
the baseline (what meshsim's imports cost).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--src", type=Path, help="time the meshsim in this source tree instead")
    ap.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = ap.parse_args()
    src = (args.src or ROOT).resolve()
    env = {**os.environ, "PYTHONPATH": str(src)}
    scenario = str(src / "scenarios" / "quickstart.yaml")
    cli = [sys.executable, "-m", "meshsim.cli"]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "meshsim --help": [*cli, "--help"],
        "meshsim check scenarios/quickstart.yaml": [*cli, "check", scenario],
    }
    load = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):  # interleaved, so a busy moment hits every command alike
        for name, argv in commands.items():
            times[name].append(wall(argv, env, src))
    base = statistics.median(times["python -c pass"])
    rows = {}
    for name, values in times.items():
        median = statistics.median(values)
        rows[name] = {
            "median_s": round(median, 4),
            "min_s": round(min(values), 4),
            "max_s": round(max(values), 4),
            "median_minus_baseline_s": round(median - base, 4),
        }
        print(
            f"{name:42s} median {median:.3f} s  min {min(values):.3f} s  "
            f"max {max(values):.3f} s  over baseline {median - base:+.3f} s"
        )
    print(f"({args.repeat} runs each; 1-minute load average before: {load:.2f})")
    if args.out:
        doc = {
            "what": "wall seconds per command in a fresh process",
            "units": "seconds",
            "repeat": args.repeat,
            "source": str(src),
            "commit": _commit(src),
            "python": platform.python_version(),
            "load_average_1min_before": load,
            "results": rows,
        }
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


def _commit(src: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=src, capture_output=True, text=True
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
