"""Simulated requests per wall-clock second for shipped scenarios, against a bare SimPy model
of the same queueing network run in the same process.

    .venv/bin/python benchmarks/bench_engine.py [--duration 10]

The bare model is what one would write by hand for fortio-2pod in sidecar mode with
``simpy.Resource``: the same closed-loop clients, the same per-hop CPU demands on the same
cores and worker threads, with no statistics, no routes and no configuration. The ratio
(meshsim / bare) is the price of meshsim's generality and observation.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import simpy

from meshsim.engine import Engine
from meshsim.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def meshsim_rate(path: Path, duration: float, mode: str) -> tuple[float, int]:
    loaded = load_scenario(
        path, [f"workload.duration_s={duration}", "workload.warmup_s=0", f"mesh.mode={mode}"]
    )
    engine = Engine(loaded, 0)
    start = time.perf_counter()
    rec = engine.run()
    wall = time.perf_counter() - start
    return rec.completed / wall, rec.completed


def bare_rate(duration: float) -> tuple[float, int]:
    """fortio-2pod, sidecar mode, as a bare SimPy model with the profile's CPU demands."""
    loaded = load_scenario(ROOT / "scenarios/fortio-2pod.yaml", ["mesh.mode=sidecar"])
    p, k = loaded.params.sidecar, loaded.params.kernel
    us = 1e-6
    kib = 1.0
    env = simpy.Environment()
    cores = {n: simpy.Resource(env, 4) for n in ("n1", "n2")}
    workers = {n: simpy.Resource(env, p.workers) for n in ("client", "server")}
    req_cpu = (p.request_cpu_us + kib * (p.cpu_per_kib_us + p.tls_cpu_per_kib_us)) * us
    resp_cpu = (p.response_cpu_us + kib * (p.cpu_per_kib_us + p.tls_cpu_per_kib_us)) * us
    post = p.post_response_cpu_us * us
    loop = (k.loopback_cpu_us + k.cpu_per_kib_us) * us
    nic = (k.traversal_cpu_us + k.cpu_per_kib_us) * us
    wire = 0.1e-3 + 1024 / (10e9 / 8)
    done = [0]

    def cpu(node, seconds):
        with cores[node].request() as r:
            yield r
            yield env.timeout(seconds)

    def proxy(node, pod, seconds, after):
        r = workers[pod].request()
        yield r
        yield from cpu(node, seconds)
        if after:
            env.process(telemetry(node, pod, r, after))
        else:
            workers[pod].release(r)

    def telemetry(node, pod, r, seconds):
        yield from cpu(node, seconds)
        workers[pod].release(r)

    def call():
        yield from cpu("n1", loop)
        yield from proxy("n1", "client", req_cpu, 0)
        yield from cpu("n1", nic)
        yield env.timeout(wire)
        yield from cpu("n2", nic)
        yield from proxy("n2", "server", req_cpu, 0)
        yield from cpu("n2", loop)
        yield from cpu("n2", 0.05e-3)  # the echo server
        yield from cpu("n2", loop)
        yield from proxy("n2", "server", resp_cpu, post)
        yield from cpu("n2", nic)
        yield env.timeout(wire)
        yield from cpu("n1", nic)
        yield from proxy("n1", "client", resp_cpu, post)
        yield from cpu("n1", loop)

    def connection(period):
        start, sent = env.now, 0
        while env.now < duration:
            yield from call()
            done[0] += 1
            sent += 1
            sleep = start + sent * period - env.now
            if sleep > 0:
                yield env.timeout(sleep)

    for _ in range(16):
        env.process(connection(16 / 1000))
    started = time.perf_counter()
    env.run()
    return done[0] / (time.perf_counter() - started), done[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="simulated seconds")
    args = parser.parse_args()
    bare, n_bare = bare_rate(args.duration)
    print(f"bare SimPy fortio-2pod sidecar: {bare:10.0f} requests/s ({n_bare} requests)")
    for name, mode in [
        ("fortio-2pod", "sidecar"),
        ("fortio-2pod", "ambient"),
        ("quickstart", "sidecar"),
        ("mm1", "none"),
    ]:
        rate, n = meshsim_rate(ROOT / f"scenarios/{name}.yaml", args.duration, mode)
        print(
            f"meshsim {name:12s} {mode:8s}: {rate:10.0f} requests/s ({n} requests)"
            f"  ratio to bare = {rate / bare:.2f}"
        )


if __name__ == "__main__":
    main()
