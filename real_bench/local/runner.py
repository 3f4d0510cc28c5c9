"""Run the local matrix: modes x rates x repetitions, one fresh lab per (repetition, mode).

Repetitions are interleaved (rep 1 of every mode, then rep 2, ...) so a burst of background
load on the shared machine hits one repetition of several modes rather than every repetition of
one mode; the spread between repetitions is then a fair noise estimate.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from real_bench.errors import BenchError
from real_bench.local import apps, hbone, loadgen, proxies, topology
from real_bench.local.certs import CertAuthority
from real_bench.local.netns import Lab
from real_bench.local.procstats import Window, busy_millicores, host_facts
from real_bench.record import (
    Component,
    Errors,
    Host,
    RunRecord,
    atomic_write_text,
    judge,
    latency_from_samples,
    percentile_nearest_rank,
    read_jsonl,
    write_jsonl,
)

MODES = ("none", "sidecar", "ambient", "waypoint")
REQUIRED_COMMANDS = {"haproxy": "haproxy", "nginx": "nginx-light", "wrk": "wrk",
                     "nft": "nftables", "ip": "iproute2", "openssl": "openssl",
                     "sysctl": "procps", "nghttpx": "nghttp2-proxy", "redsocks": "redsocks",
                     "tinyproxy": "tinyproxy"}
REQUIRED_FILES = {path: "libnginx-mod-http-lua" for path in apps.LUA_MODULES}


@dataclass
class LocalMatrix:
    modes: list[str] = field(default_factory=lambda: list(MODES))
    topology: str = "single-hop"  # or "3-tier" (see topology.GRAPHS)
    rates: list[float] = field(default_factory=lambda: [250, 1000, 2000, 3000])
    connections: int = 16
    repetitions: int = 3
    warmup_s: float = 3.0
    measure_s: float = 10.0
    payload_bytes: int = 1024
    lead_s: float = 1.0
    tail_s: float = 1.0
    quiet_threshold_mcores: float = 300.0
    quiet_max_wait_s: float = 15.0
    quiet_budget_s: float = 180.0  # total waiting allowed over the matrix (keeps it < 20 min)
    maxconn: int = 1024


def quick_matrix() -> LocalMatrix:
    """Every mode once at one rate: a smoke test of every data path for CI (~1 min)."""
    return LocalMatrix(rates=[500], repetitions=1, warmup_s=2.0, measure_s=5.0,
                       quiet_max_wait_s=1.0, quiet_budget_s=4.0)


def ensure_prerequisites(install: bool = True) -> None:
    """Root is required (namespaces, nftables); missing Debian packages are installed."""
    if os.geteuid() != 0:
        raise BenchError("real-bench local needs root: it creates network namespaces, veths and "
                         "nftables rules (run it as root, e.g. with sudo)")
    missing = sorted({pkg for cmd, pkg in REQUIRED_COMMANDS.items() if not shutil.which(cmd)}
                     | {pkg for path, pkg in REQUIRED_FILES.items() if not Path(path).exists()})
    if missing and install:
        if not shutil.which("apt-get"):
            raise BenchError(f"missing packages {' '.join(missing)} and no apt-get to install them")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
            if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
                raise BenchError(f"could not install {' '.join(missing)} with apt-get")
    still = sorted([cmd for cmd in REQUIRED_COMMANDS if not shutil.which(cmd)]
                   + [path for path in REQUIRED_FILES if not Path(path).exists()])
    if still:
        raise BenchError(f"missing commands: {', '.join(still)}")
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        raise BenchError("`ip netns` does not work here (network namespaces unavailable)")


def tool_versions() -> dict[str, str]:
    v = proxies.program_version
    return {
        "haproxy": v(["haproxy", "-v"]),
        "nginx": v(["nginx", "-v"]),
        "wrk": v(["wrk", "-v"]),
        "openssl": v(["openssl", "version"]),
        "nftables": v(["nft", "--version"]),
        "nghttpx": v(["nghttpx", "--version"]),
        "redsocks": v(["redsocks", "-v"]),
        "tinyproxy": v(["tinyproxy", "-v"]),
        "python": sys.version.split()[0],
    }


def _short(version_line: str) -> str:
    for tok in version_line.replace("/", " ").split():
        if tok[:1].isdigit():
            return tok.split("-")[0]
    return version_line


_PY_WAIT = """
import socket, sys, time
host, port, deadline = sys.argv[1], int(sys.argv[2]), time.time() + float(sys.argv[3])
while True:
    try:
        socket.create_connection((host, port), timeout=1).close(); break
    except OSError:
        if time.time() > deadline: sys.exit(f"nothing listens on {host}:{port}")
        time.sleep(0.05)
"""

_PY_RTT = """
import socket, statistics, sys, time
vals = []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter(); s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    vals.append((time.perf_counter() - t) * 1e6); s.close(); time.sleep(0.005)
print(statistics.median(vals))
"""

_PY_GET = """
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], 80, timeout=5)
c.request("GET", "/payload"); r = c.getresponse(); b = r.read()
print(r.status, len(b), r.getheader("x-path"))
"""


class ModeLab:
    """One mode's data path for one application graph, up for a set of load points, then
    torn down."""

    def __init__(self, mode: str, m: LocalMatrix, workdir: Path, ca: CertAuthority,
                 versions: dict[str, str]) -> None:
        self.mode, self.m, self.ca, self.versions = mode, m, ca, versions
        self.graph = topology.GRAPHS[m.topology]
        self.workdir = workdir
        self.lab = Lab(workdir)
        # name -> (labelled processes summed as one component, role, program, node)
        self.components: dict[str, tuple[list[tuple[str, int]], str, str, str]] = {}
        self.rtt_us: float | None = None
        self.quiet_left = m.quiet_budget_s
        self.tunnels: dict[str, int] = {}

    # helpers
    def _py(self, ns: str, code: str, *args: str) -> str:
        return self.lab.exec(ns, sys.executable, "-c", code, *args).strip()

    def _wait(self, ns: str, host: str, port: int) -> None:
        self._py(ns, _PY_WAIT, host, str(port), "8")

    def _add(self, comp: str, label: str, pid: int, role: str, prog: str, node: str) -> None:
        """Count process `pid` in component `comp` (several processes may make one proxy)."""
        procs, _role, old_prog, _node = self.components.get(comp, ([], role, "", node))
        progs = [x for x in (old_prog, prog) if x]
        self.components[comp] = ([*procs, (label, pid)], role, " + ".join(progs), node)

    def _haproxy(self, name: str, ns: str, cfg: str, role: str, node: str, what: str) -> None:
        path = self.workdir / f"{name}.cfg"
        path.write_text(cfg)
        check = subprocess.run(["haproxy", "-c", "-q", "-f", str(path)], capture_output=True,
                               text=True)
        if check.returncode != 0:
            raise BenchError(f"{path}: haproxy rejected the config: {check.stderr.strip()[:300]}")
        proc = self.lab.spawn(ns, name, ["haproxy", "-db", "-f", str(path)])
        prog = f"haproxy {_short(self.versions['haproxy'])} ({what}, 1 thread)"
        self._add(name, "haproxy", proc.pid, role, prog, node)

    def _nft(self, ns: str, name: str, rules: str) -> None:
        path = self.workdir / f"{name}.nft"
        path.write_text(rules)
        self.lab.exec(ns, "nft", "-f", str(path))

    def _pod_host(self, identity: str) -> str:
        return self.ca.host(identity)

    def up(self) -> None:
        g = self.graph
        pods = {"client": g.client_node} | {s.name: s.node for s in g.services}
        if self.mode == "waypoint":
            pods["waypoint"] = "node3"
        self.topo = topology.build(self.lab, ["node1", "node2", "node3"], pods)
        t = self.topo
        client, entry = t.pods["client"], t.pods[g.entry]
        for svc in g.services:
            self._start_app(svc)
        # Network round trip without any proxy, measured before capture is installed.
        self.rtt_us = float(self._py(client.ns, _PY_RTT, entry.ip, str(proxies.APP_PORT), "50"))
        if self.mode == "sidecar":
            self._sidecars()
        elif self.mode in ("ambient", "waypoint"):
            self._hbone()
        # Prove the whole path answers, through every tier, before measuring anything.
        want = apps.expected_path(g.calls(), g.entry)
        got = self._py(client.ns, _PY_GET, entry.ip)
        if got != f"200 {self.m.payload_bytes} {want}":
            raise BenchError(f"mode {self.mode}: path check failed: got {got!r}, expected "
                             f"'200 {self.m.payload_bytes} {want}'")

    def _start_app(self, svc: topology.Service) -> None:
        pod = self.topo.pods[svc.name]
        if svc.calls:
            conf = apps.fanout_conf(self.workdir, svc.name, {
                c: self.topo.pods[c].ip for c in svc.calls}, self.m.payload_bytes)
            what = f"nginx + Lua, calls {' and '.join(svc.calls)} in parallel"
        else:
            conf = apps.static_conf(self.workdir, svc.name, self.m.payload_bytes)
            what = f"static {self.m.payload_bytes} B"
        proc = self.lab.spawn(pod.ns, f"nginx-{svc.name}", ["nginx", "-c", str(conf)])
        name = "server_app" if self.graph is topology.SINGLE_HOP else f"app_{svc.name}"
        self._add(name, "nginx", proc.pid, "server_app",
                  f"nginx {_short(self.versions['nginx'])} (1 worker, {what})", svc.node)
        self._wait(pod.ns, "127.0.0.1", proxies.APP_PORT)

    def _sidecars(self) -> None:
        """A haproxy sidecar in every pod, the client's included."""
        g, t, mc = self.graph, self.topo, self.m.maxconn
        calls = {"client": (g.entry,)} | g.calls()
        for pod_name, callees in calls.items():
            pod = t.pods[pod_name]
            cert = self.ca.issue(f"sidecar-{pod_name}")
            routes = [(t.pods[c].ip, self._pod_host(f"sidecar-{c}")) for c in callees]
            self._haproxy(f"sidecar_{pod_name}", pod.ns, proxies.sidecar_cfg(
                self.ca.ca_cert, cert, routes, mc), "sidecar", pod.node, "http mode, mTLS")
            self._nft(pod.ns, f"capture-{pod_name}", proxies.sidecar_capture_rules())
            self._wait(pod.ns, "127.0.0.1", proxies.INBOUND_PORT)
            if callees:
                self._wait(pod.ns, "127.0.0.1", proxies.OUTBOUND_PORT)

    def _hbone(self) -> None:
        """A ztunnel stand-in per node that has pods (the halves it needs), and for waypoint
        mode one waypoint pod on node3 through which every service call goes."""
        g, t, ca = self.graph, self.topo, self.ca.ca_cert
        services = [s.name for s in g.services]
        nghttpx = f"nghttpx {_short(self.versions['nghttpx'])}"
        if self.mode == "waypoint":
            wp = t.pods["waypoint"]
            self.ca.issue("waypoint")
            key, crt = self.ca.key_and_cert("waypoint")
            routes = [hbone.Route(t.pods[s].ip, t.pods[s].ip,
                                  self._pod_host(f"ztunnel-{t.pods[s].node}")) for s in services]
            proc = self.lab.spawn(wp.ns, "waypoint", hbone.waypoint_nghttpx(ca, crt, key, routes))
            self._add("waypoint", "nghttpx", proc.pid, "waypoint", f"{nghttpx} (HBONE in, "
                      "HBONE out per destination, h2 + mTLS, 1 worker)", wp.node)
            self._wait(wp.ns, "127.0.0.1", proxies.HBONE_PORT)
            out_routes = [hbone.Route(t.pods[s].ip, wp.ip, self._pod_host("waypoint"))
                          for s in services]
        else:
            out_routes = [hbone.Route(t.pods[s].ip, t.pods[s].ip,
                                      self._pod_host(f"ztunnel-{t.pods[s].node}"))
                          for s in services]
        callers = {"client", *(s.name for s in g.services if s.calls)}
        for node in t.nodes.values():
            local = {p.name for p in node.pods}
            sends, receives = bool(local & callers), bool(local & set(services))
            if not (sends or receives):
                continue
            comp, ident = f"ztunnel_{node.name}", f"ztunnel-{node.name}"
            self.ca.issue(ident)
            key, crt = self.ca.key_and_cert(ident)
            if receives:
                tp = hbone.tinyproxy_conf(self.workdir / f"tinyproxy-{node.name}.conf",
                                          self.m.maxconn)
                proc = self.lab.spawn(node.ns, f"tinyproxy-{node.name}",
                                      ["tinyproxy", "-d", "-c", str(tp)])
                self._add(comp, "tinyproxy", proc.pid, "ztunnel",
                          f"tinyproxy {_short(self.versions['tinyproxy'])} (in: ends CONNECT)",
                          node.name)
                proc = self.lab.spawn(node.ns, f"nghttpx-in-{node.name}",
                                      hbone.inbound_nghttpx(ca, crt, key, self.m.maxconn))
                self._add(comp, "nghttpx_in", proc.pid, "ztunnel",
                          f"{nghttpx} (in: h2 CONNECT server, mTLS)", node.name)
            if sends:
                proc = self.lab.spawn(node.ns, f"nghttpx-out-{node.name}",
                                      hbone.outbound_nghttpx(ca, crt, key, out_routes))
                self._add(comp, "nghttpx_out", proc.pid, "ztunnel",
                          f"{nghttpx} (out: h2 CONNECT client, mTLS, pooled)", node.name)
                conf = hbone.redsocks_conf(self.workdir / f"redsocks-{node.name}.conf")
                proc = self.lab.spawn(node.ns, f"redsocks-{node.name}",
                                      ["redsocks", "-c", str(conf)])
                self._add(comp, "redsocks", proc.pid, "ztunnel",
                          f"redsocks {_short(self.versions['redsocks'])} (out: capture)",
                          node.name)
            self._nft(node.ns, f"capture-{node.name}", hbone.capture_rules(
                [p.node_if for p in node.pods], node.pod_cidr))
            if receives:
                self._wait(node.ns, "127.0.0.1", hbone.TERMINATOR_PORT)
                self._wait(node.ns, "127.0.0.1", proxies.HBONE_PORT)
            if sends:
                self._wait(node.ns, "127.0.0.1", hbone.CONNECT_PORT)
                self._wait(node.ns, "127.0.0.1", proxies.OUTBOUND_PORT)

    def down(self) -> None:
        self.lab.close()

    def quiet_wait(self) -> tuple[float, float]:
        """Wait for the machine to be quiet, bounded per run and by the matrix's remaining
        budget; return (busy mcores over the last second, seconds waited)."""
        t0 = time.monotonic()
        limit = min(self.m.quiet_max_wait_s, max(0.0, self.quiet_left))
        while True:
            busy = busy_millicores(1.0)
            waited = time.monotonic() - t0
            if busy < self.m.quiet_threshold_mcores or waited >= limit:
                self.quiet_left -= max(0.0, waited - 1.0)
                return busy, waited

    def point(self, rate: float, rep: int) -> RunRecord:
        m, t = self.m, self.topo
        client, entry = t.pods["client"], t.pods[self.graph.entry]
        pre_busy, waited = self.quiet_wait()
        prefix = "" if self.graph is topology.SINGLE_HOP else f"{self.graph.name}-"
        tag = f"{prefix}{self.mode}-{int(rate)}-r{rep}"
        out = self.workdir / f"wrk-{tag}.txt"
        start = time.monotonic() + m.lead_s
        dur = loadgen.plan_duration(m.lead_s, m.warmup_s, m.measure_s, m.tail_s)
        started = dt.datetime.now(dt.UTC)
        wrk = self.lab.spawn(client.ns, f"wrk-{tag}", loadgen.wrk_command(
            f"http://{entry.ip}:{proxies.APP_PORT}/payload", m.connections, dur),
            env=loadgen.wrk_env(start, rate, m.connections, out, "/payload"))
        pids: dict[str, int | list[int]] = {
            name: [pid for _label, pid in c[0]] for name, c in self.components.items()}
        pids["client_app"] = wrk.pid
        win = Window(pids)
        loadgen.wait_until(start + m.warmup_s)
        win.start()
        loadgen.wait_until(start + m.warmup_s + m.measure_s / 2)
        self.tunnels = self._count_tunnels()
        loadgen.wait_until(start + m.warmup_s + m.measure_s)
        win.stop()
        try:
            wrk.wait(timeout=dur + 30)
        except subprocess.TimeoutExpired:
            self.lab.stop(wrk)
            raise BenchError(f"wrk did not finish for {tag}") from None
        res = loadgen.parse_output(out)
        return self._record(rate, rep, tag, started, res, win, pre_busy, waited)

    def _record(self, rate: float, rep: int, tag: str, started: dt.datetime,
                res: loadgen.LoadResult, win: Window, pre_busy: float,
                waited: float) -> RunRecord:
        m = self.m
        w0, w1 = m.warmup_s * 1e6, (m.warmup_s + m.measure_s) * 1e6
        in_win = [s for s in res.samples if w0 <= s.intended_us < w1]
        ok = [s for s in in_win if s.done_us >= 0 and 200 <= s.status < 400]
        by_code: dict[str, int] = {}
        for s in in_win:
            if s.done_us < 0:
                by_code["lost"] = by_code.get("lost", 0) + 1
            elif not 200 <= s.status < 400:
                by_code[str(s.status)] = by_code.get(str(s.status), 0) + 1
        completed = sum(1 for s in res.samples if w0 <= s.done_us < w1)
        achieved = completed / m.measure_s
        lat, hist = latency_from_samples([_latency(s, prev) for s, prev in _with_prev(ok, res)])
        service = sorted(s.done_us - s.sent_us for s in ok)
        lag = sorted(s.sent_us - s.intended_us for s in in_win)
        scheduled = round(rate * m.measure_s)
        warnings = []
        if win.background_mcores > m.quiet_threshold_mcores:
            warnings.append(f"background CPU {win.background_mcores:.0f} mcores during the "
                            f"window (shared machine)")
        lag_p99 = percentile_nearest_rank(lag, 99) if lag else 0.0
        if lag_p99 > 1000:
            warnings.append(f"load generator sent late: p99 send lag {lag_p99:.0f} us")
        errors = sum(by_code.values())
        validity = judge(rate, achieved, len(ok), errors, total_requests=len(in_win),
                         warnings=warnings)
        comps = []
        for name, (_procs, role, prog, node) in self.components.items():
            comps.append(Component(name=name, role=role, program=prog, node=node,  # type: ignore[arg-type]
                                   cpu_millicores=_r(win.cpu_mcores.get(name)),
                                   mem_mib=_r(win.rss_max.get(name)),
                                   mem_mib_avg=_r(win.rss_mean.get(name))))
        comps.insert(0, Component(
            name="client_app", role="client_app", node=self.graph.client_node,
            program=f"wrk {_short(self.versions['wrk'])} ({m.connections} threads x 1 conn, "
                    f"open-loop Lua pacing)",
            cpu_millicores=_r(win.cpu_mcores.get("client_app")),
            mem_mib=_r(win.rss_max.get("client_app")),
            mem_mib_avg=_r(win.rss_mean.get("client_app"))))
        facts = host_facts()
        host = Host(**facts, background_cpu_millicores=_r(win.background_mcores),  # type: ignore[arg-type]
                    network_rtt_us=_r(self.rtt_us),
                    notes=["no tc netem on this kernel: no delay emulated, RTT measured",
                           f"other processes used {pre_busy:.0f} mcores just before the run "
                           f"(waited {waited:.1f} s for quiet)"])
        return RunRecord(
            run_id=f"local-{self.lab.id}-{tag}", source="local", backend="local",
            mode=self.mode,  # type: ignore[arg-type]
            label=tag, start_time=started.isoformat(timespec="seconds"), repetition=rep,
            requested_qps=rate, achieved_qps=round(achieved, 3), connections=m.connections,
            payload_bytes=m.payload_bytes, placement=self._placement(), duration_s=m.measure_s,
            warmup_s=m.warmup_s, load_generator="wrk + open_loop.lua (fixed rate, uniform "
            "per-connection schedule, latency from intended send time)", open_loop=True,
            latency=lat, histogram=hist, errors=Errors(total=errors, by_code=by_code),
            components=comps, host=host, tool_versions=self.versions, validity=validity,
            extra={
                "scheduled_requests": scheduled,
                "requests_in_window": len(in_win),
                "service_time_p50_us": _r(percentile_nearest_rank(service, 50)),
                "service_time_p99_us": _r(percentile_nearest_rank(service, 99)),
                "send_lag_p50_us": _r(percentile_nearest_rank(lag, 50)),
                "send_lag_p99_us": _r(lag_p99),
                "machine_busy_mcores_proc_stat": _r(win.machine_mcores),
                "top_other_processes_mcores": dict(win.top_others),
                "wrk_summary": res.wrk_summary,
                "lab_id": self.lab.id,
                "topology": self.graph.name,
                "hops": [f"{a}->{b} ({where})" for a, b, where in self.graph.hops()],
                "component_processes_mcores": {
                    name: {label: _r(win.cpu_by_pid.get(pid)) for label, pid in procs}
                    for name, (procs, *_rest) in self.components.items() if len(procs) > 1},
                "connections_mid_window": self.tunnels,
            })

    def _placement(self) -> str:
        wheres = {where for _a, _b, where in self.graph.hops()}
        return wheres.pop() if len(wheres) == 1 else "unknown"

    def _count_tunnels(self) -> dict[str, int]:
        """Established TCP connections, mid-window, to port 15008 from each node proxy and the
        waypoint (the pooled HBONE connections), and from pods into each node proxy's capture
        port (the app connections they carry), counted inside each namespace."""
        if self.mode not in ("ambient", "waypoint"):
            return {}
        places = {n.name: n.ns for n in self.topo.nodes.values()}
        if "waypoint" in self.topo.pods:
            places["waypoint"] = self.topo.pods["waypoint"].ns
        counts = {}
        for name, ns in places.items():
            for what, flt in (("hbone_out", f"( dport = :{proxies.HBONE_PORT} )"),
                              ("app_in", f"( sport = :{proxies.OUTBOUND_PORT} )")):
                out = self.lab.exec(ns, "ss", "-Htn", "state", "established", flt, check=False)
                counts[f"{name}_{what}"] = len(out.splitlines())
        return counts


def _with_prev(ok: list[loadgen.Sample], res: loadgen.LoadResult
               ) -> list[tuple[loadgen.Sample, float]]:
    """Pair each sample with the completion time of the previous request on its connection."""
    prev_done: dict[int, float] = {}
    prev_of: dict[int, float] = {}
    for s in res.samples:  # in (thread, seq) order as written by the Lua script
        prev_of[id(s)] = prev_done.get(s.thread, float("-inf"))
        if s.done_us >= 0:
            prev_done[s.thread] = s.done_us
    return [(s, prev_of[id(s)]) for s in ok]


def _latency(s: loadgen.Sample, prev_done_us: float) -> float:
    """Latency from the intended send time, minus the load generator's own wake-up lag.

    The request could go out at `ready` = max(intended, previous response on the connection).
    Time waiting behind a slow previous response counts (no coordinated omission); the timer
    wake-up delay after `ready` is the generator's, not the system's, and is removed.
    """
    ready = max(s.intended_us, prev_done_us)
    return s.done_us - s.intended_us - max(0.0, s.sent_us - ready)


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def run_matrix(m: LocalMatrix, out_dir: Path,
               log: Callable[[str], None] = print) -> list[RunRecord]:
    """Run every point; records are rewritten to `out_dir/records.jsonl` after each point."""
    plan = [(rep, mode, list(m.rates)) for rep in range(m.repetitions) for mode in m.modes]
    records: list[RunRecord] = []
    t_start = time.monotonic()

    def keep(rec: RunRecord) -> None:
        records.append(rec)
        write_jsonl(out_dir / "records.jsonl", records)

    _run_plan(m, plan, out_dir, keep, log)
    meta = {"matrix": asdict(m), "elapsed_s": round(time.monotonic() - t_start, 1),
            "records": len(records)}
    atomic_write_text(out_dir / "run-meta.json", json.dumps(meta, indent=2) + "\n")
    return records


REPLACED = "replaced-records.jsonl"


def rerun_spoiled(out_dir: Path, log: Callable[[str], None] = print) -> list[RunRecord]:
    """Measure again, with the run's own matrix, every point whose window saw more background
    CPU than the quiet threshold (another tenant of the shared machine); then keep, per point,
    the measurement with the least background CPU (see `keep_quietest`)."""
    meta_path = out_dir / "run-meta.json"
    try:
        m = LocalMatrix(**json.loads(meta_path.read_text())["matrix"])
        records = read_jsonl(out_dir / "records.jsonl")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"{meta_path}: not a real-bench local run ({exc})") from None
    spoiled = [r for r in records if _background(r) > m.quiet_threshold_mcores]
    by_lab: dict[tuple[int, str], list[float]] = {}
    for r in spoiled:
        by_lab.setdefault((r.repetition or 0, r.mode), []).append(r.requested_qps or 0.0)
    plan = [(rep, mode, rates) for (rep, mode), rates in sorted(by_lab.items())]
    first = {r.label: r for r in spoiled}

    def keep(rec: RunRecord) -> None:
        rec.extra["rerun_of"] = {"run_id": first[rec.label].run_id,
                                 "background_cpu_millicores": _background(first[rec.label])}
        with open(out_dir / REPLACED, "a") as fh:
            fh.write(rec.model_dump_json() + "\n")
        keep_quietest(out_dir)

    log(f"{len(spoiled)} of {len(records)} points had background CPU above "
        f"{m.quiet_threshold_mcores:.0f} mcores; measuring them again")
    t_start = time.monotonic()
    _run_plan(m, plan, out_dir, keep, log)
    meta = json.loads(meta_path.read_text())
    meta.setdefault("reruns", []).append({
        "points": sorted(first), "elapsed_s": round(time.monotonic() - t_start, 1)})
    atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    return read_jsonl(out_dir / "records.jsonl")


def keep_quietest(out_dir: Path) -> None:
    """Per point (label), keep in `records.jsonl` the measurement with the least background
    CPU among it and those in `replaced-records.jsonl`; the others go (back) there. Chosen on
    the noise measure only, never on the latency measured."""
    records = read_jsonl(out_dir / "records.jsonl")
    alt_path = out_dir / REPLACED
    others = read_jsonl(alt_path) if alt_path.exists() else []
    candidates: dict[str, list[RunRecord]] = {}
    for r in [*records, *others]:
        candidates.setdefault(r.label, []).append(r)
    kept = [min(candidates[r.label], key=_background) for r in records]
    kept_ids = {id(r) for r in kept}
    write_jsonl(out_dir / "records.jsonl", kept)
    write_jsonl(alt_path, [r for r in [*records, *others] if id(r) not in kept_ids])


def _background(r: RunRecord) -> float:
    return r.host.background_cpu_millicores or 0.0


def _run_plan(m: LocalMatrix, plan: list[tuple[int, str, list[float]]], out_dir: Path,
              keep: Callable[[RunRecord], None], log: Callable[[str], None]) -> None:
    """One fresh lab per (repetition, mode) of `plan`, one point per rate on it."""
    ensure_prerequisites()
    out_dir.mkdir(parents=True, exist_ok=True)
    versions = tool_versions()
    t_start = time.monotonic()
    quiet_left = m.quiet_budget_s
    with tempfile.TemporaryDirectory(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-") as tmp:
        tmpdir = Path(tmp)
        os.chmod(tmpdir, 0o755)  # haproxy drops to uid 1337 but reads certs before that
        ca = CertAuthority(tmpdir / "ca")
        for rep, mode, rates in plan:
            wd = tmpdir / f"{mode}-r{rep}"
            wd.mkdir()
            lab = ModeLab(mode, m, wd, ca, versions)
            try:
                lab.up()
                for rate in rates:
                    lab.quiet_left = quiet_left
                    rec = lab.point(rate, rep)
                    quiet_left = lab.quiet_left
                    keep(rec)
                    v = "valid" if rec.validity.valid else "INVALID " + "; ".join(
                        rec.validity.reasons)
                    log(f"[{time.monotonic() - t_start:6.0f}s] rep {rep} {mode:8s} "
                        f"{rate:6.0f} rps: achieved {rec.achieved_qps:7.1f}, "
                        f"p50 {rec.latency.p50_us:8.0f} us, p99 {rec.latency.p99_us:8.0f} us,"
                        f" bg {rec.host.background_cpu_millicores:.0f} mcores, {v}")
            except BaseException:
                _keep_logs(wd, out_dir)
                raise
            finally:
                lab.down()


WORKDIR_PREFIX = "real-bench-"  # + creating pid: a run killed with SIGKILL is found by it


def sweep_stale_workdirs() -> list[Path]:
    """Remove the temp dirs (throwaway CA key, certs, configs, logs) of runs whose pid is dead;
    namespaces and their processes go with :func:`netns.sweep_stale`."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        pid = path.name.removeprefix(WORKDIR_PREFIX).split("-", 1)[0]
        if path.is_dir() and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _keep_logs(wd: Path, out_dir: Path) -> None:
    """On failure keep the proxies' logs and configs for diagnosis."""
    dest = out_dir / "failed-logs"
    dest.mkdir(parents=True, exist_ok=True)
    for f in wd.glob("*"):
        if f.suffix in (".log", ".cfg", ".nft", ".conf") and f.is_file():
            shutil.copy(f, dest / f.name)
