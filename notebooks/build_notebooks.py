"""Write the notebooks in this folder from the cell sources below, and execute them.

The notebooks are generated so that their code can be reviewed as text and kept in one style.
Edit here, then run ``.venv/bin/python notebooks/build_notebooks.py --execute``: it writes each
notebook, runs it in a Jupyter kernel (nbclient) and saves it with its outputs, so that a reader
on the repository's web page sees the tables and plots. Tests check that the sources match this
file and execute every notebook again.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

# The repository root: the first folder upwards that holds pyproject.toml.
ROOT = Path.cwd().resolve()
while not (ROOT / "pyproject.toml").is_file():
    if ROOT == ROOT.parent:
        raise RuntimeError("open this notebook from inside the meshsim repository")
    ROOT = ROOT.parent
SCENARIOS = ROOT / "scenarios"
pd.set_option("display.precision", 3)
pd.set_option("display.width", 160)
plt.rcParams["figure.dpi"] = 72  # small images in the committed outputs
"""


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(text.strip("\n"))


# --- 01 quickstart ----------------------------------------------------------------------------

QUICKSTART = [
    md("""
# Quickstart: what does a mesh add to one request?

Load a scenario, simulate it, compare the four data paths (`none`, `sidecar`, `ambient`,
`waypoint`) with the same arrivals and service times, and see where the time goes, hop by hop.

Runs here are short (2 simulated seconds, one replication) so the notebook executes in seconds;
for decisions, use the scenario's own duration and replications (confidence intervals need
several).
"""),
    code(SETUP),
    code("""
import meshsim

QUICK = ["workload.duration_s=2", "workload.warmup_s=0.5", "sim.replications=1"]
loaded = meshsim.load(SCENARIOS / "quickstart.yaml", QUICK)
sc = loaded.scenario
print(sc.description)
print(f"mode {sc.mesh.mode}, profile {loaded.profile.name}, seed {sc.sim.seed}")
"""),
    md("""
## Run it in its own mode

`simulate` runs every replication; `latency()` is in milliseconds (the confidence interval needs
two or more replications), `verdict()` says whether the run kept up and names the busiest
component.
"""),
    code("""
result = meshsim.simulate(loaded)
print(result.verdict())
result.latency()
"""),
    code("""
result.by_kind()  # vCPU = mean cores busy; memory in MiB (a model: base + connections + config)
"""),
    md("""
## Compare the modes

`compare` runs the same scenario in each mode with common random numbers: the arrivals and the
applications' service times are identical, so the differences are the data path's.
"""),
    code("""
comp = meshsim.compare(loaded, ["none", "sidecar", "ambient", "waypoint"])
table = comp.table().set_index("mode")
table[["p50_ms", "p99_ms", "added_p50_ms", "added_p99_ms", "vcpu_mesh", "memory_mib_mesh",
       "verdict"]]
"""),
    code("""
fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
table[["p50_ms", "p90_ms", "p99_ms"]].plot.bar(ax=axes[0], rot=0)
axes[0].set(title="End-to-end latency", ylabel="ms", xlabel="")
table["vcpu_mesh"].plot.bar(ax=axes[1], rot=0, color="tab:orange")
axes[1].set(title="Mesh CPU (sidecars + ztunnels + waypoints)", ylabel="vCPU", xlabel="")
table["memory_mib_mesh"].plot.bar(ax=axes[2], rot=0, color="tab:green")
axes[2].set(title="Mesh memory", ylabel="MiB", xlabel="")
fig.tight_layout()
"""),
    md("""
## Where the time goes: a per-hop waterfall

Each bar is one mode; each segment the time an average request spends in one kind of hop
(queueing plus service), laid end to end in path order, the same figure `meshsim report`
draws. The frontend calls its two backends in parallel, so the segments overlap in reality and
their sum can pass the end-to-end mean (the tick).
"""),
    code("""
from meshsim.report.plots import draw_waterfall

fig, ax = plt.subplots(figsize=(11, 4.5))
draw_waterfall(ax, comp.results)
fig.tight_layout()
"""),
    code("""
comp.results["sidecar"].hops()[
    ["hop", "visits_per_request", "wait_mean_ms", "service_mean_ms", "per_request_ms"]
]
"""),
    md("""
The app, kernel and network segments are what the application pays without a mesh; the
sidecar, ztunnel and waypoint segments are what the mesh adds. Next: `02-tradeoffs.ipynb` asks
when each mode wins.
"""),
]

# --- 02 trade-offs ----------------------------------------------------------------------------

TRADEOFFS = [
    md("""
# When does ambient win, and when does it lose?

One small call graph (a client calls `frontend`, which calls `backend`; each on its own node)
and six questions, each answered by a sweep or a handful of runs with common random numbers:

1. load, 2. payload size, 3. pods per node, 4. a waypoint in another zone,
5. eBPF short-circuit when the call graph stays on one node, 6. mesh size and sidecar memory,
and then the question users bring: 7. Istio sidecar, Istio ambient, Linkerd and Cilium side by
side.

Sweeps use `meshsim.sweep` on every local core (the same code as `meshsim sweep`). Runs are
short (0.3 simulated seconds, one replication) to keep the notebook fast: read the trends,
not the third digit.
"""),
    code(SETUP),
    code("""
import copy
import tempfile

from meshsim import simulate
from meshsim.loader import load_scenario_dict
from meshsim.sweep import Sweep, parse_grid, run_sweep

BASE = {
    "name": "tradeoffs",
    "cluster": {"nodes": [{"name": "node", "count": 3, "cores": 4, "zone": "zone-a"}]},
    "services": {
        "frontend": {
            "nodes": ["node-1"],
            "service_time": {"type": "exponential", "mean_ms": 0.3},
            "calls": [{"service": "backend"}],
        },
        "backend": {"nodes": ["node-2"], "service_time": {"type": "exponential", "mean_ms": 0.3}},
    },
    "workload": {
        "entry": "frontend",
        "client": {"node": "node-0"},
        "generator": {"type": "open", "rate_rps": 1000},
        "duration_s": 0.3,
        "warmup_s": 0.05,
    },
    "sim": {"seed": 7, "replications": 1},
}
WORK = Path(tempfile.mkdtemp(prefix="meshsim-tradeoffs-"))
MODES = ["none", "sidecar", "ambient", "waypoint"]


def sweep(base, *grids, changes=()):
    \"\"\"The tidy table of a sweep over ``grids`` (``PATH=V1,V2``) on every local core.\"\"\"
    loaded = load_scenario_dict(base).with_changes(*changes)
    out = Path(tempfile.mkdtemp(dir=WORK))
    return run_sweep(Sweep(loaded, [parse_grid(g) for g in grids]), out, progress=False)


def run(base, *changes):
    return simulate(load_scenario_dict(base).with_changes(*changes))
"""),
    md("""
## 1. Load

A sidecar is an Envoy in every pod: the frontend's sidecar handles its inbound *and* outbound
traffic with two worker threads. In ambient mode the same traffic crosses the node's ztunnel,
which does L4 work only. As the rate grows, the proxy with the most work per request saturates
first. Saturated points are drawn hollow: their latency only says "the queue kept growing".
"""),
    code("""
load = sweep(BASE, "mesh.mode=" + ",".join(MODES),
             "workload.generator.rate_rps=500,2500,4500,6500")
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for mode, rows in load.groupby("mesh.mode", sort=False):
    x = rows["workload.generator.rate_rps"]
    line, = axes[0].plot(x, rows["latency_p99_ms"], marker="o", label=mode)
    sat = rows["verdict"] == "saturated"
    axes[0].scatter(x[sat], rows["latency_p99_ms"][sat], s=120, facecolors="none",
                    edgecolors=line.get_color())
    axes[1].plot(x, rows["bottleneck_utilisation"], marker="o", label=mode)
axes[0].set(yscale="log", xlabel="offered load, requests/s", ylabel="p99 latency, ms",
            title="p99 latency (hollow = saturated)")
axes[1].set(xlabel="offered load, requests/s", ylabel="utilisation of the busiest component",
            title="Busiest component")
axes[1].axhline(1.0, color="black", lw=0.8, ls=":")
axes[0].legend()
fig.tight_layout()
load.pivot(index="workload.generator.rate_rps", columns="mesh.mode", values="bottleneck")
"""),
    md("""
## 2. Payload

Envoy parses and re-encrypts every byte at L7; ztunnel only encrypts. Growing the backend's
response widens the gap in CPU; latency grows in every mode because the bytes also cross the
wire, and once a proxy's per-byte work fills its workers the run saturates (hollow markers).
"""),
    code("""
payload = sweep(BASE, "mesh.mode=sidecar,ambient,waypoint",
                "services.backend.response_kib=1,16,64,256")
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for mode, rows in payload.groupby("mesh.mode", sort=False):
    x = rows["services.backend.response_kib"]
    line, = axes[0].plot(x, rows["latency_p50_ms"], marker="o", label=mode)
    sat = rows["verdict"] == "saturated"
    axes[0].scatter(x[sat], rows["latency_p50_ms"][sat], s=120, facecolors="none",
                    edgecolors=line.get_color())
    axes[1].plot(x, rows["vcpu_mesh"], marker="o", label=mode)
axes[0].set(xscale="log", yscale="log", xlabel="response size, KiB", ylabel="p50 latency, ms",
            title="Median latency (hollow = saturated)")
axes[1].set(xscale="log", xlabel="response size, KiB", ylabel="vCPU",
            title="Mesh CPU at 1000 requests/s")
axes[0].legend()
fig.tight_layout()
payload.pivot(index="services.backend.response_kib", columns="mesh.mode", values="verdict")
"""),
    md("""
## 3. Pods per node

A sidecar per pod costs memory (and a CPU request) per pod; a ztunnel costs it once per node.
Here the backend runs more and more replicas on the same two nodes, at the same total load
(so latency does not move: no pod is busy). The right panel puts the mesh's memory next to
what the applications themselves use (64 MiB per pod here).
"""),
    code("""
ppn = copy.deepcopy(BASE)
ppn["services"]["backend"].pop("nodes")
ppn["cluster"] = {"nodes": [{"name": "node", "count": 2, "cores": 8}]}
ppn["services"]["frontend"]["nodes"] = ["node-0"]
ppn["workload"]["client"]["node"] = "node-0"
pods = sweep(ppn, "mesh.mode=sidecar,ambient", "services.backend.replicas=2,8,32,64")
pods["backend_pods_per_node"] = pods["services.backend.replicas"] / 2
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for mode, rows in pods.groupby("mesh.mode", sort=False):
    x = rows["backend_pods_per_node"]
    axes[0].plot(x, rows["memory_mib_mesh"] / 1024, marker="o", label=mode)
    axes[1].plot(x, 100 * rows["memory_mib_mesh"] / rows["memory_mib_app"], marker="o",
                 label=mode)
axes[0].set(xlabel="backend pods per node", ylabel="GiB", title="Mesh memory, whole cluster")
axes[1].set(xlabel="backend pods per node", ylabel="% of the apps' memory",
            title="Mesh memory relative to the applications'")
axes[0].legend()
fig.tight_layout()
pods.pivot(index="backend_pods_per_node", columns="mesh.mode",
           values=["memory_mib_mesh", "latency_p99_ms"])
"""),
    md("""
## 4. A waypoint in another zone

L7 policy in ambient mode needs a waypoint, an Envoy Deployment that may run on any node. When
the scheduler puts it in another zone, every call to `backend` crosses zones twice each way.
The apps and the client stay in `zone-a`; the waypoint goes to a node in `zone-a` or `zone-b`.
"""),
    code("""
zones = copy.deepcopy(BASE)
zones["cluster"] = {"nodes": [
    {"name": "node", "count": 3, "cores": 4, "zone": "zone-a"},
    {"name": "far", "count": 1, "cores": 4, "zone": "zone-b"},
]}
waypoint = {"name": "wp", "services": ["backend"]}
cases = {
    "sidecar": ["mesh.mode=sidecar"],
    "ambient (no L7)": ["mesh.mode=ambient"],
    "waypoint, same zone": ["mesh.mode=waypoint",
                            "mesh.waypoints=" + str([{**waypoint, "nodes": ["node-0"]}])],
    "waypoint, other zone": ["mesh.mode=waypoint",
                             "mesh.waypoints=" + str([{**waypoint, "nodes": ["far"]}])],
}
rows = []
for name, changes in cases.items():
    res = run(zones, *changes)
    lat = res.latency()["ms"]
    rows.append({"case": name, "p50_ms": lat["p50"], "p99_ms": lat["p99"],
                 "verdict": res.verdict()["status"]})
zone_table = pd.DataFrame(rows).set_index("case")
ax = zone_table[["p50_ms", "p99_ms"]].plot.barh(figsize=(9, 3.5))
ax.set(xlabel="ms", ylabel="", title="Latency with L7 at the waypoint, by where it runs")
ax.invert_yaxis()
zone_table
"""),
    md("""
## 5. eBPF short-circuit when the call graph stays on one node

With every pod on one node, each hop between sockets (app to proxy, pod to pod) is a loopback
or veth traversal of the kernel. A socket-level redirect (sockmap) skips most of that stack. It
cannot help traffic that leaves the node, so this is where it helps most.
"""),
    code("""
local = copy.deepcopy(BASE)
for svc in local["services"].values():
    svc["nodes"] = ["node-0"]
ebpf = sweep(local, "mesh.mode=" + ",".join(MODES), "mesh.ebpf_shortcircuit=false,true")
p50 = ebpf.pivot(index="mesh.mode", columns="mesh.ebpf_shortcircuit", values="latency_p50_ms")
kernel = ebpf.pivot(index="mesh.mode", columns="mesh.ebpf_shortcircuit", values="vcpu_kernel")
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
p50.loc[MODES].plot.bar(ax=axes[0], rot=0)
axes[0].set(ylabel="ms", xlabel="", title="p50 latency, all pods on one node")
kernel.loc[MODES].plot.bar(ax=axes[1], rot=0)
axes[1].set(ylabel="vCPU", xlabel="", title="Kernel CPU")
for ax in axes:
    ax.legend(title="eBPF short-circuit")
fig.tight_layout()
change = (p50[True] - p50[False]).rename("p50 change with eBPF, ms (negative = faster)")
change.loc[MODES].to_frame()
"""),
    md("""
## 6. Mesh size and sidecar memory

Every sidecar holds configuration for every service it can see: with `config_scope: cluster`
that is every service in the mesh, so each sidecar grows with the mesh, and the mesh's memory
(sidecars x services) tends to grow with its square. `config_scope: namespace` (Istio's
`Sidecar` resource) bounds what each sidecar sees; a ztunnel holds only a small record per
workload. Here one pod per service, ten services per namespace, on ten nodes; only
`entry -> svc-0` carries traffic, so the figures are configuration and idle cost.
"""),
    code("""
def mesh_of(n_services, nodes=10, per_namespace=10):
    services = {"entry": {"service_time": 0.2, "calls": [{"service": "svc-0"}]}}
    for i in range(n_services):
        services[f"svc-{i}"] = {"namespace": f"ns-{i // per_namespace}", "service_time": 0.2}
    return {
        "name": f"mesh-{n_services}",
        "cluster": {"nodes": [{"name": "node", "count": nodes, "cores": 8}]},
        "services": services,
        "workload": {"entry": "entry", "generator": {"type": "open", "rate_rps": 100},
                     "duration_s": 0.2},
        "sim": {"replications": 1},
    }


variants = {"sidecar, cluster scope": ("sidecar", "cluster"),
            "sidecar, namespace scope": ("sidecar", "namespace"),
            "ambient (ztunnel)": ("ambient", "cluster")}
rows = []
for n in (10, 50, 200, 1000):
    for name, (mode, scope) in variants.items():
        res = run(mesh_of(n), f"mesh.mode={mode}", f"mesh.config_scope={scope}")
        resources = res.resources()
        proxies = resources[resources["kind"].isin(["sidecar", "ztunnel"])]
        rows.append({"services": n, "variant": name,
                     "mesh_memory_gib": proxies["memory_mib"].sum() / 1024,
                     "per_proxy_mib": proxies["memory_mib"].mean()})
size = pd.DataFrame(rows)
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for name, r in size.groupby("variant", sort=False):
    axes[0].plot(r["services"], r["mesh_memory_gib"], marker="o", label=name)
    axes[1].plot(r["services"], r["per_proxy_mib"], marker="o", label=name)
axes[0].set(xscale="log", yscale="log", xlabel="services (one pod each)", ylabel="GiB",
            title="Mesh memory, whole cluster")
axes[1].set(xscale="log", xlabel="services (one pod each)", ylabel="MiB",
            title="Memory of one proxy")
axes[0].legend()
fig.tight_layout()
size.pivot(index="services", columns="variant", values="mesh_memory_gib")
"""),
    md("""
## 7. Four data planes side by side

`scenarios/four-meshes.yaml` follows the one published four-way setup with a fixed-rate fortio
load (arXiv 2411.02267: fortio client and one server on a single 8-vCPU node, mTLS, several
rates, many connections). Linkerd passes two single-threaded linkerd-proxies; Cilium has no
user-space proxy on an L4 path (eBPF in the kernel; WireGuard encrypts only between nodes, so
nothing here); ambient passes the node's one ztunnel twice (out and in, as in-pod ztunnel
does). Parameters: `istio-1.24-published` plus the built-in Linkerd and Cilium values (every
number's source in `meshsim/profile_data/dataplanes/linkerd-cilium-published.yaml`). Then the
same at a high rate with Cilium's shared per-node Envoy on the path (`mesh.cilium.l7_services`).
"""),
    code("""
import meshsim

FOUR = ["none", "sidecar", "ambient", "linkerd", "cilium"]
SHORT = ["sim.replications=1", "workload.duration_s=0.6", "workload.warmup_s=0.1"]
rows = []
for qps in (200, 2000):
    four = meshsim.load(SCENARIOS / "four-meshes.yaml",
                        [*SHORT, f"workload.generator.qps={qps}"])
    table = meshsim.compare(four, FOUR).table()
    table.insert(0, "qps", qps)
    rows.append(table)
four_way = pd.concat(rows)
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
four_way.pivot(index="mode", columns="qps", values="added_p50_ms").loc[FOUR].plot.bar(
    ax=axes[0], rot=0, title="p50 latency added over no mesh, ms")
four_way.pivot(index="mode", columns="qps", values="vcpu_mesh").loc[FOUR].plot.bar(
    ax=axes[1], rot=0, title="mesh vCPU (Cilium's eBPF is kernel CPU, not here)")
fig.tight_layout()
four_way[["qps", "mode", "p50_ms", "p99_ms", "added_p99_ms", "vcpu_mesh", "vcpu_kernel",
          "memory_mib_mesh", "bottleneck"]]
"""),
    code("""
# Cilium with L7 policy on the server: every L7 call on the node queues at its one shared Envoy.
hot = meshsim.load(SCENARIOS / "four-meshes.yaml",
                   [*SHORT, "workload.generator.qps=2000", "mesh.cilium.l7_services=[server]"])
hot_way = meshsim.compare(hot, ["cilium", "linkerd", "ambient"])
pd.DataFrame({m: r.hops().set_index("hop")["per_request_ms"]
              for m, r in hot_way.results.items()}).fillna(0.0)
"""),
    md("""
## What the model says, in short

- **Load**: the proxy with the most work per request saturates first; compare the busiest
  component per mode in the table under plot 1.
- **Payload**: L7 proxies pay per byte twice (parse and encrypt); ztunnel pays to encrypt.
- **Pods per node**: sidecars cost per pod, ztunnels per node: the gap grows with density.
- **Waypoint placement**: a waypoint in another zone adds cross-zone trips to every call it
  serves; pin it (or keep it in-zone) when L7 is needed.
- **eBPF**: helps traffic that stays on one node, and only there.
- **Mesh size**: without scoping, sidecar memory grows with every service in the mesh.
- **Four data planes**: on one node Cilium's L4 path adds almost nothing (kernel work only)
  and ambient one ztunnel; Linkerd's two single-threaded proxies and the sidecars' two Envoys
  add the most latency, Linkerd with the least proxy memory. With L7 on, Cilium's shared
  per-node Envoy carries every L7 call of the node.

The CPU and memory figures come from the profile (`istio-1.24-published`), whose sources and
assumptions are listed in the profile file; see `03-calibration.ipynb` for how its latency
compares with real measurements.
"""),
    code("""
import shutil

shutil.rmtree(WORK, ignore_errors=True)  # the sweeps' scratch files; the tables are above
"""),
]

# --- 03 calibration ---------------------------------------------------------------------------

CALIBRATION = [
    md("""
# Calibration: the published profile against real fortio runs

`data/fortio/` holds Istio's own benchmark runs (Istio 1.2.0, 2019, GKE, three
nodes of at least 4 vCPU), copied from istio/tools under its Apache-2.0 licence
(`data/fortio/PROVENANCE.md`): fortio at 1000 qps with 1, 16 and 64 connections, 1 KiB, in
three set-ups:

| fixture | path | meshsim |
|---|---|---|
| `base` | no proxy | `mesh.mode=none` |
| `serveronly` | server sidecar only | `mesh.mode=sidecar`, `workload.client.in_mesh=false` |
| `both` | client and server sidecars, mTLS | `mesh.mode=sidecar` |

`scenarios/fortio-2pod.yaml` models that topology. The profile used is
`istio-1.24-published`: its CPU figures come from Istio 1.24's published numbers, not from
these runs, so this notebook shows how far an uncalibrated profile lands from a real,
older measurement; the last section uses a profile fitted to them by `meshsim calibrate`.
"""),
    code(SETUP),
    code("""
import json
import re

FIXTURES = ROOT / "data" / "fortio"  # from istio/tools, Apache-2.0: see PROVENANCE.md there
NAME = re.compile(r"_qps_(?P<qps>\\d+)_c_(?P<conns>\\d+)_(?P<size>\\d+)_(?P<setup>[a-z]+)\\.json$")
rows = []
for path in sorted(FIXTURES.glob("*.json")):
    m = NAME.search(path.name)
    if not m:
        continue  # compiled-results.json is JSON Lines of derived records
    doc = json.loads(path.read_text())
    hist = doc["DurationHistogram"]  # latencies in seconds
    pct = {p["Percentile"]: p["Value"] for p in hist["Percentiles"]}
    rows.append({
        "setup": m["setup"], "connections": int(m["conns"]),
        "requested_qps": float(doc["RequestedQPS"]), "actual_qps": doc["ActualQPS"],
        "p50_ms": pct[50] * 1e3, "p90_ms": pct[90] * 1e3, "p99_ms": pct[99] * 1e3,
        "file": path.name,
    })
measured = pd.DataFrame(rows).set_index(["setup", "connections"]).sort_index()
measured.drop(columns="file")
"""),
    md("""
## Predictions

The same three set-ups and connection counts, simulated with fortio's closed-loop pacing.
Runs are 3 simulated seconds (about 3000 requests) with one replication, to stay quick; the
real runs lasted 240 s.
"""),
    code("""
import meshsim

SETUPS = {
    "base": ["mesh.mode=none"],
    "serveronly": ["mesh.mode=sidecar", "workload.client.in_mesh=false"],
    "both": ["mesh.mode=sidecar"],
}
QUICK = ["workload.duration_s=3", "workload.warmup_s=0.5", "sim.replications=1"]
base = meshsim.load(SCENARIOS / "fortio-2pod.yaml", QUICK)
print(f"profile {base.profile.name} ({base.profile_sha256}), seed {base.scenario.sim.seed}")
rows = []
for setup, changes in SETUPS.items():
    for conns in (1, 16, 64):
        in_setup = base.with_changes(*changes, f"workload.generator.connections={conns}")
        res = meshsim.simulate(in_setup)
        lat = res.latency()["ms"]
        rows.append({"setup": setup, "connections": conns, "p50_ms": lat["p50"],
                     "p90_ms": lat["p90"], "p99_ms": lat["p99"],
                     "achieved_qps": res.summary()["throughput_rps"],
                     "verdict": res.verdict()["status"]})
predicted = pd.DataFrame(rows).set_index(["setup", "connections"]).sort_index()
predicted
"""),
    md("""
## Side by side

Bars: measured (solid) and predicted (hatched) percentiles per set-up and connection count.
"""),
    code("""
STATS = ["p50_ms", "p90_ms", "p99_ms"]
ORDER = [(s, c) for s in SETUPS for c in (1, 16, 64)]
fig, axes = plt.subplots(1, 3, figsize=(15, 4), sharey=False)
for ax, stat in zip(axes, STATS):
    labels = [f"{s} {c}" for s, c in ORDER]
    x = range(len(ORDER))
    ax.bar([i - 0.2 for i in x], measured.loc[ORDER, stat], width=0.4, label="measured (fortio)")
    ax.bar([i + 0.2 for i in x], predicted.loc[ORDER, stat], width=0.4, hatch="//",
           label="predicted (meshsim)")
    ax.set_xticks(list(x), labels, fontsize=8, rotation=60, ha="right")
    ax.set(title=stat.replace("_ms", ""), ylabel="ms")
axes[0].legend()
fig.tight_layout()
"""),
    code("""
both = measured[STATS].add_suffix("_measured").join(predicted[STATS].add_suffix("_predicted"))
fig, ax = plt.subplots(figsize=(5.5, 5))
for setup, marker in zip(SETUPS, "osD"):
    for stat, color in zip(STATS, ["tab:blue", "tab:orange", "tab:red"]):
        r = both.loc[setup]
        ax.scatter(r[f"{stat}_measured"], r[f"{stat}_predicted"], marker=marker, color=color,
                   label=f"{setup} {stat[:-3]}")
lim = [0.05, max(both.max()) * 1.5]
ax.plot(lim, lim, color="black", lw=0.8, label="predicted = measured")
ax.set(xscale="log", yscale="log", xlim=lim, ylim=lim, xlabel="measured, ms",
       ylabel="predicted, ms", title="Every percentile, every set-up")
ax.legend(fontsize=7, ncol=2)
fig.tight_layout()
"""),
    md("""
## What the mesh adds: measured against predicted

The quantity a user asks about is the latency the sidecars *add* over `base` at the same
connection count. The ratio column is predicted / measured: 1 is a perfect prediction.
"""),
    code("""
rows = []
for setup in ("serveronly", "both"):
    for conns in (1, 16, 64):
        for stat in STATS:
            m = measured.loc[(setup, conns), stat] - measured.loc[("base", conns), stat]
            p = predicted.loc[(setup, conns), stat] - predicted.loc[("base", conns), stat]
            rows.append({"setup": setup, "connections": conns, "statistic": stat[:-3],
                         "added_measured_ms": m, "added_predicted_ms": p,
                         "ratio": p / m if m > 0 else float("nan")})
added = pd.DataFrame(rows)
added.pivot(index=["setup", "connections"], columns="statistic", values="ratio")
"""),
    md("""
Read the ratios, not a single number: where they sit far from 1, the profile's per-request
costs (from Istio 1.24 on bare metal) do not describe Istio 1.2 on GKE, and a fitted profile is
needed; below 1, the model predicts less than was measured. The measured runs also differ from
run to run (Istio reports up to 1.5x in p90 between identical runs), so even a perfect model
would not land on every bar.
"""),
    md("""
## A profile fitted to these runs

`meshsim calibrate` fits a profile to measurements by simulation (`reports/validation/` has the
commands and results). The committed profile `istio-1.2-c4-c32` was fitted on the runs at 4 and
32 connections only; here it predicts the others, next to the **additive baseline** (per-hop
costs summed, no queueing), which cannot see connections at all. The profile records its
fit: what each parameter is, how strongly the data pin it down, and whether it is identified.
"""),
    code("""
import yaml
from meshsim.measurements import load_measurements, select
from meshsim.validate import template_for, validate

PROFILE = ROOT / "reports" / "validation" / "istio-1.2-c4-c32" / "profile.yaml"
fit = yaml.safe_load(PROFILE.read_text())["calibration"]
print("fitted on:", fit["fit_on"], "| status:", fit["status"])
pd.DataFrame(fit["parameters"])[["parameter", "start", "value", "sensitivity", "note"]]
"""),
    code("""
points = select(load_measurements(sorted(FIXTURES.glob("*.json"))),
                "campaign == '193ff770' and connections in (1, 16, 64)")
table = validate(template_for(PROFILE, None), points, fit["fitted_points"], duration_s=2.0)
lat = table[table["metric"].isin(["p50", "p90"])]
lat.groupby("metric")[["meshsim_error_pct", "additive_error_pct"]].apply(
    lambda g: g.abs().mean()).round(1).rename(columns=lambda c: c.replace("_error_pct", " MAPE %"))
"""),
    code("""
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
for ax, ((mode, variant), rows) in zip(axes, lat[lat["metric"] == "p50"].groupby(
        ["mode", "variant"])):
    rows = rows.sort_values("connections")
    ax.plot(rows["connections"], rows["measured"], "ks-", label="measured")
    ax.plot(rows["connections"], rows["meshsim"], "o-", label="meshsim (fitted)")
    ax.plot(rows["connections"], rows["additive"], "x--", label="additive baseline")
    ax.set(xscale="log", yscale="log", xlabel="connections", ylabel="p50, ms",
           title=f"{mode} {variant}".strip())
    ax.legend(fontsize=8)
fig.tight_layout()
"""),
    md("""
Queueing behind synchronised connections is what makes latency grow with connections at a
fixed rate; a load-independent model has no way to show it. Where meshsim still misses (the
tails, which the real runs get from events the model does not have, such as garbage
collection and Mixer's batching), `reports/validation/README.md` says by how much.
"""),
]


CAPACITY = [
    md("""
# Capacity planning: the highest load within an SLO, and what it costs

For each mesh mode, `meshsim.capacity` searches the highest entry rate at which the latency
objective still holds and the run does not saturate (doubling, then bisecting), and
`meshsim.cost` turns the answer into nodes and money. The quickstart scenario is used with a
p99 objective; runs are short (about 500 requests per point, one replication, a 10% bracket) to
keep the notebook quick, so treat the rates as estimates within that tolerance.
"""),
    code(SETUP),
    code("""
import meshsim
from meshsim import cost
from meshsim.capacity import Slo, capacity_row, evaluate, points_frame

MODES = ["none", "sidecar", "ambient", "waypoint"]
SLO = "p99<=25ms"
loaded = meshsim.load(SCENARIOS / "quickstart.yaml", ["sim.replications=1"])
print(loaded.scenario.description)
print("prices:", cost.PROVENANCE["prices"])
"""),
    md("""
## The search

Each mode's search starts at the workload's own rate (300 requests/s) and doubles until a point
fails, then bisects. A point fails on latency (`ok` verdict but p99 over the objective) or on
saturation. A run stops as soon as its objective is certainly missed (more than 1 % of the
requests it can measure already over the threshold): the verdict of the whole run, for fewer
simulated requests, and the p99 plotted for it is its part run's.
"""),
    code("""
table, caps = meshsim.capacity(
    loaded, SLO, MODES, requests_per_point=500, rel_tol=0.1
)
table.set_index("mode")[
    ["max_rate_rps", "first_failing_rps", "p99_at_max_ms", "limited_by", "bottleneck",
     "headroom_pct", "runs"]
]
"""),
    code("""
points = points_frame(caps)
slo_ms = Slo.parse(SLO).threshold_ms
fig, axes = plt.subplots(1, 2, figsize=(13, 4))
for mode, rows in points.groupby("mode", sort=False):
    rows = rows.sort_values("rate_rps")
    line, = axes[0].plot(rows["rate_rps"], rows["p99_ms"], marker="o", label=mode)
    failed = ~rows["passed"]
    axes[0].scatter(rows["rate_rps"][failed], rows["p99_ms"][failed], s=120,
                    facecolors="none", edgecolors=line.get_color())
axes[0].axhline(slo_ms, color="black", ls="--", lw=1, label=f"objective {SLO}")
axes[0].set(yscale="log", xlabel="entry rate, requests/s", ylabel="p99 latency, ms",
            title="Every point of the search (hollow = failed, maybe stopped early)")
axes[0].legend(fontsize=8)
table.set_index("mode")["max_rate_rps"].plot.bar(ax=axes[1], rot=0, color="tab:purple")
axes[1].set(xlabel="", ylabel="requests/s", title=f"Highest rate meeting {SLO}")
fig.tight_layout()
"""),
    md("""
## Sizing for a target rate

If one cluster of the simulated size carries `max_rate_rps`, a target rate needs that many
times more nodes (linear scaling, never fewer than the pods' requests need). The lower a mode's
capacity per node, the more nodes, and dollars, it takes.
"""),
    code("""
TARGET_RPS = 3000
sizing = pd.DataFrame([
    capacity_row(meshsim.change(loaded, mesh={"mode": m}), caps[m], TARGET_RPS)
    for m in MODES
]).set_index("mode")
ax = sizing["usd_month_for_target"].plot.bar(rot=0, figsize=(6, 3.5), color="tab:green")
ax.set(xlabel="", ylabel="USD per month",
       title=f"Nodes to carry {TARGET_RPS} requests/s within {SLO}")
for i, n in enumerate(sizing["nodes_for_target"]):
    ax.annotate(f"{n} nodes", (i, sizing["usd_month_for_target"].iloc[i]), ha="center",
                va="bottom", fontsize=9)
sizing[["max_rate_rps", "nodes_for_target", "usd_month_for_target", "node_usd_hour"]]
"""),
    md("""
## What the mesh itself costs at the workload's rate

Provisioned (Kubernetes requests: a sidecar per pod, a ztunnel per node, waypoints, istiod)
against used (what a short simulation at the workload's own 300 requests/s measured), for the
mesh components only.
"""),
    code("""
slo = Slo.parse(SLO)
rows = []
for mode in MODES:
    in_mode = meshsim.change(loaded, mesh={"mode": mode})
    _, result = evaluate(in_mode, 300, slo, requests_per_point=500)
    rows.append(cost.estimate(in_mode, result).summary())
mesh_cost = pd.DataFrame(rows).set_index("mode")[
    ["mesh_requested_vcpu", "mesh_used_vcpu", "mesh_requested_gib", "mesh_used_gib",
     "mesh_provisioned_usd_month", "mesh_used_usd_month"]
]
ax = mesh_cost[["mesh_provisioned_usd_month", "mesh_used_usd_month"]].plot.bar(
    rot=0, figsize=(7, 3.5))
ax.set(xlabel="", ylabel="USD per month", title="Mesh cost: provisioned against used")
ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
mesh_cost
"""),
    md("""
Provisioned cost is what the cluster pays for whether or not traffic flows; used cost follows
the load. The gap between them, and the capacity each mode leaves for the applications, is the
argument for (or against) a mode at a given size; change `TARGET_RPS`, `SLO` or the scenario
and run again.
"""),
]

# --- 05 upgrades --------------------------------------------------------------------------------

UPGRADES = [
    md("""
# Upgrades: what an Envoy CVE and a ztunnel CVE cost each mode

The case for ambient mode names operational impact: an Envoy CVE in sidecar mode means restarting
every application pod; in ambient, the applications are not recycled. But ztunnel is a
DaemonSet: a ztunnel CVE touches every node. This notebook runs the same rolling update in each
mode with common random numbers (`meshsim.api.rollout`) and reads the transients: how long it
takes, how many pods restart, how many requests fail or are retried, the worst p99 and the
lowest ready capacity.

The behaviour (drain, grace period, retry policy, ztunnel's chart strategy) follows Istio's and
Kubernetes' defaults, cited in `meshsim/events.py`; pod start-up time and endpoint propagation
are assumptions you can change. Runs here use a low rate so the notebook executes in seconds.
"""),
    code(SETUP),
    code("""
import meshsim
from meshsim import api

LIGHT = ["workload.generator.rate_rps=60", "sim.replications=1"]
loaded = meshsim.load(SCENARIOS / "cve-rollout.yaml", LIGHT)
print(loaded.scenario.description)
loaded.scenario.events[0]
"""),
    md("""
## An Envoy CVE

Sidecar mode restarts every app pod (Deployment by Deployment, 25 % surge and 25 % unavailable);
waypoint mode restarts the waypoint Deployment only; ambient without waypoints has no Envoy to
replace.
"""),
    code("""
envoy = api.rollout(loaded, "envoy")
envoy.table()
"""),
    code("""
def over_time(done, title):
    series = done.timeseries()
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    for mode, g in series.groupby("mode", sort=False):
        t = (g["t_start_s"] + g["t_end_s"]) / 2
        axes[0].plot(t, g["p99_ms"], label=mode)
        axes[1].plot(t, g["failed"] + g["retried"], label=mode)
        axes[2].plot(t, g["pods_ready_pct"], label=mode)
    for ax, label in zip(axes, ["p99 per window, ms", "failed + retried", "app pods ready, %"]):
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    axes[2].set_xlabel("simulated time, s")
    fig.suptitle(title)
    return fig


over_time(envoy, "Envoy rollout");
"""),
    md("""
## A ztunnel CVE

ztunnel rolls node by node (Istio's chart: `maxSurge: 1`, `maxUnavailable: 0`): no app pod
restarts, but every node's traffic moves to a new ztunnel, every connection is re-established
(handshakes), and the requests still on an old ztunnel when its grace period ends are reset;
ztunnel does not retry them. Sidecar mode has no ztunnel.
"""),
    code("""
ztunnel = api.rollout(loaded, "ztunnel")
ztunnel.table()
"""),
    code("""
over_time(ztunnel, "ztunnel rollout");
"""),
    md("""
## What the caller's retries are worth

In sidecar and waypoint modes an Envoy on the caller's side retries a refused connection on
another pod (Istio's default: 2 retries on connect-failure, refused-stream, 503). In ambient
without a waypoint nothing retries at L7. An app rollout (its own Deployment, any mode) shows the
difference most plainly: the pods being replaced refuse new connections while callers still
list them (`operations.endpoint_propagation_ms`).
"""),
    code("""
app = loaded.with_changes("events.0.component=app", "events.0.deployment=catalog")
rows = []
for mode in ("sidecar", "ambient", "waypoint"):
    block = meshsim.simulate(app.replace(mesh={"mode": mode})).summary()["rollout"]
    rows.append({"mode": mode, "failed": block["requests_failed"],
                 "retried": block["attempts"]["retried"],
                 "duration_s": block["duration_s"]})
pd.DataFrame(rows)
"""),
    md("""
## At fleet scale

The simulator keeps every pod it is given, so a 50,000-pod fleet is simulated as a
representative share. What scales is arithmetic the DES confirms on small Deployments: one
Deployment takes `ceil(replicas / (surge + unavailable))` rounds of start-up plus readiness,
Deployments updated one after another add up, and ztunnel takes one round per node.
"""),
    code("""
def app_rollout_s(replicas):
    one = loaded.with_changes(
        f"services.catalog.replicas={replicas}", "events.0.component=app",
        "events.0.deployment=catalog", "events.0.startup_ms=3000", "events.0.readiness_ms=2000",
        "workload.generator.rate_rps=20", "workload.duration_s=45",
    )
    return meshsim.simulate(one.replace(mesh={"mode": "ambient"})).summary()["rollout"]["duration_s"]


rows = []
for replicas in (2, 4, 8, 12):
    surge, unavailable = -(-replicas // 4), replicas // 4
    rounds = -(-replicas // (surge + unavailable))
    rows.append({"replicas": replicas, "rounds": rounds, "predicted_s": rounds * 5.0,
                 "simulated_s": app_rollout_s(replicas)})
pd.DataFrame(rows)
"""),
    code("""
POD_ROUND_S = 5.0  # start-up + readiness, as above
pods, per_deployment, nodes = 50_000, 10, 2_000
deployments = pods // per_deployment
rounds = -(-per_deployment // (-(-per_deployment // 4) + per_deployment // 4))
pd.DataFrame([
    {"rollout": "Envoy, sidecar, Deployment by Deployment", "pods_restarted": pods,
     "hours": deployments * rounds * POD_ROUND_S / 3600},
    {"rollout": "Envoy, sidecar, 50 Deployments at once", "pods_restarted": pods,
     "hours": deployments / 50 * rounds * POD_ROUND_S / 3600},
    {"rollout": "ztunnel, node by node (maxSurge 1)", "pods_restarted": 0,
     "hours": nodes * POD_ROUND_S / 3600},
])
"""),
    md("""
Read with the tables above: in sidecar mode an Envoy CVE restarts every application pod and
takes as long as the slowest path through the Deployments, but the callers' retries hide the
refused connections; in ambient an Envoy CVE touches only the waypoints, while a ztunnel CVE
restarts no application but walks every node and resets what is in flight on each old ztunnel
with nothing to retry it.
"""),
]

NOTEBOOKS = {
    "01-quickstart.ipynb": QUICKSTART,
    "02-tradeoffs.ipynb": TRADEOFFS,
    "03-calibration.ipynb": CALIBRATION,
    "04-capacity-planning.ipynb": CAPACITY,
    "05-upgrades.ipynb": UPGRADES,
}


def render(name: str, cells: list[nbformat.NotebookNode]) -> str:
    """The notebook file's text: no outputs, stable cell ids, a python3 kernel."""
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating changes nothing else
        cell.id = f"{Path(name).stem[:2]}-{i:02d}"
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def without_outputs(text: str) -> str:
    """A notebook file's text with its outputs removed: what ``render`` writes."""
    nb = nbformat.reads(text, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    return nbformat.writes(nb) + "\n"


def execute(path: Path, timeout_s: int = 600) -> float:
    """Run a notebook in a fresh python3 kernel from this folder, save it with its outputs
    (without timestamps or the kernel's version, which would change from run to run or from
    machine to machine); seconds taken."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(
        nb, kernel_name="python3", timeout=timeout_s, resources={"metadata": {"path": str(HERE)}}
    ).execute()
    seconds = time.perf_counter() - started
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata["language_info"] = {"name": "python"}  # not the kernel's Python version
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb) + "\n")
    return seconds


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("--")] or list(NOTEBOOKS)
    for name in names:
        path = HERE / name
        path.write_text(render(name, NOTEBOOKS[name]))
        print(f"wrote {path}")
        if "--execute" in argv:
            seconds = execute(path)
            print(f"executed {path} in {seconds:.1f} s ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
