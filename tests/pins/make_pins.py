"""Pin the numbers: a SHA-256 of ``summary.json`` for every shipped scenario in every mode.

Also pinned, for the same runs: the data rows of ``hops.csv`` and ``resources.csv`` and the
cost model's estimate (``meshsim.cost.estimate``), so memory and cost rules are covered too.

    .venv/bin/python tests/pins/make_pins.py            # (re)write tests/pins/summary-pins.json
    .venv/bin/python tests/pins/make_pins.py --check    # compare, exit 1 on any difference

Each run goes through the command line (``meshsim run SCENARIO --set ... --out DIR``), called
in this process, with options that have existed since the first release, so the same script
pins an older commit and checks a newer one: a refactoring that claims to change no number
must leave every pin as it was. Runs are short (one replication, a fraction of a second of
simulated time). Fields that change without the numbers changing (wall time, version) are
dropped before hashing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PINS = Path(__file__).with_name("summary-pins.json")
MODES = ("none", "sidecar", "ambient", "waypoint", "linkerd", "cilium")
SHORT = ("sim.replications=1", "workload.duration_s=1.0", "workload.warmup_s=0.2")
# Modes whose runs take no ``events:`` (meshsim refuses them there).
EVENTLESS_MODES = ("linkerd", "cilium")
# Extra runs with the eBPF short-circuit on: (scenario, mode).
EBPF = (("scenarios/quickstart.yaml", "sidecar"), ("scenarios/quickstart.yaml", "ambient"))
VOLATILE = (("meshsim_version",), ("run", "wall_time_s"))


def scenarios() -> list[str]:
    # fleet.yaml: 50,000 pods, refused by the DES's work limits (tests/test_analytic_fleet.py)
    files = sorted(f for f in (ROOT / "scenarios").glob("*.yaml") if f.name != "fleet.yaml")
    files += sorted((ROOT / "scenarios" / "calibration").glob("*.yaml"))
    return [str(f.relative_to(ROOT)) for f in files]


def cases() -> list[tuple[str, str, tuple[str, ...]]]:
    """(key, scenario, overrides) for every pinned run."""
    out = []
    for scenario in scenarios():
        for mode in MODES:
            if mode in EVENTLESS_MODES and "events:" in (ROOT / scenario).read_text():
                continue  # refused: events are modelled for Istio's modes and none
            out.append((f"{scenario} {mode}", scenario, (*SHORT, f"mesh.mode={mode}")))
    for scenario, mode in EBPF:
        extra = (*SHORT, f"mesh.mode={mode}", "mesh.ebpf_shortcircuit=true")
        out.append((f"{scenario} {mode} ebpf", scenario, extra))
    return out


def digest(summary: dict) -> str:
    """SHA-256 of the summary without its volatile fields, keys sorted."""
    for path in VOLATILE:
        node = summary
        for key in path[:-1]:
            node = node.get(key, {})
        node.pop(path[-1], None)
    text = json.dumps(summary, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def run_case(scenario: str, overrides: tuple[str, ...], out: Path) -> dict[str, str]:
    from meshsim.cli import main

    argv = ["run", scenario, "--quiet", "--out", str(out)]
    for assignment in overrides:
        argv += ["--set", assignment]
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    if status != 0:
        raise RuntimeError(f"meshsim {' '.join(argv)} exited {status}")
    pins = {"summary.json": digest(json.loads((out / "summary.json").read_text()))}
    for table in ("hops.csv", "resources.csv"):  # the data rows, without the provenance lines
        rows = [r for r in (out / table).read_text().splitlines() if not r.startswith("#")]
        pins[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    pins["cost"] = cost_digest(scenario, overrides)
    return pins


def cost_digest(scenario: str, overrides: tuple[str, ...]) -> str:
    """The cost model's estimate for the same run (requests, memory, istiod, money)."""
    from meshsim.cost import estimate
    from meshsim.loader import load_scenario
    from meshsim.simulate import simulate

    loaded = load_scenario(scenario, list(overrides))
    est = estimate(loaded, simulate(loaded))
    doc = {"summary": est.summary(), "by_kind": est.by_kind.to_dict(orient="index")}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def compute() -> dict[str, str]:
    """``{"SCENARIO MODE[ ebpf] WHAT": sha256}`` for WHAT in summary.json, hops.csv,
    resources.csv and cost."""
    pins = {}
    with tempfile.TemporaryDirectory(prefix="meshsim-pins-") as tmp, contextlib.chdir(ROOT):
        for i, (key, scenario, overrides) in enumerate(cases()):
            for what, sha in run_case(scenario, overrides, Path(tmp) / str(i)).items():
                pins[f"{key} {what}"] = sha
    return pins


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the pins, write nothing")
    args = ap.parse_args()
    pins = compute()
    if args.check:
        old = json.loads(PINS.read_text())["pins"]
        diff = sorted(k for k in old.keys() | pins.keys() if old.get(k) != pins.get(k))
        for key in diff:
            print(f"differs: {key}")
        print(f"{len(pins) - len(diff)} of {len(pins)} pins equal")
        return 1 if diff else 0
    doc = {
        "what": "sha256 of summary.json without "
        + ", ".join(".".join(p) for p in VOLATILE)
        + "; of the data rows of hops.csv and resources.csv; of cost.estimate(...)",
        "overrides": list(SHORT),
        "pins": pins,
    }
    PINS.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(pins)} pins to {PINS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
