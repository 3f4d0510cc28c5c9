"""local backend: the HBONE stand-in and the 3-tier topology, for real in network namespaces.

The netns tests need root and `ip netns` (CI runs as root) and are skipped otherwise. They bring
one mode's lab up (real nginx, haproxy, nghttpx, redsocks, tinyproxy), drive it from inside the
client pod with keep-alive connections, and check what really crossed the wire with `ss`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_real_bench_local import (  # the same root/netns checks and snapshots
    _assert_clean,
    _env,
    _procs_mentioning,
    _snapshot,
    needs_netns,
)

from real_bench.local import apps, hbone, runner, topology
from real_bench.local.certs import CertAuthority

_CLIENT = """
import http.client, json, sys
host, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conns = [http.client.HTTPConnection(host, 80, timeout=10) for _ in range(n)]
seen = []
for _ in range(rounds):
    for c in conns:
        c.request("GET", "/payload")
        r = c.getresponse()
        seen.append([r.status, len(r.read()), r.getheader("x-path")])
print(json.dumps(seen), flush=True)
sys.stdin.readline()  # keep every connection open until the test has counted them
"""


@pytest.fixture
def lab_factory(tmp_path: Path) -> Iterator:
    os.chmod(tmp_path, 0o755)  # haproxy drops to uid 1337 but reads its certs first
    ca = CertAuthority(tmp_path / "ca")
    versions = runner.tool_versions()
    labs: list[runner.ModeLab] = []

    def make(mode: str, graph: str) -> runner.ModeLab:
        wd = tmp_path / f"{mode}-{graph}"
        wd.mkdir()
        lab = runner.ModeLab(mode, runner.LocalMatrix(topology=graph), wd, ca, versions)
        labs.append(lab)
        lab.up()
        return lab

    yield make
    for lab in labs:
        lab.down()


def _drive(lab: runner.ModeLab, connections: int, rounds: int) -> tuple[subprocess.Popen, list]:
    client, entry = lab.topo.pods["client"], lab.topo.pods[lab.graph.entry]
    proc = subprocess.Popen(["ip", "netns", "exec", client.ns, sys.executable, "-c", _CLIENT,
                             entry.ip, str(connections), str(rounds)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.communicate()
    return proc, json.loads(line)


def _established(lab: runner.ModeLab, ns: str, flt: str) -> int:
    out = lab.lab.exec(ns, "ss", "-Htn", "state", "established", flt)
    return len(out.splitlines())


@pytest.mark.netns
@needs_netns
def test_hbone_carries_many_app_connections_on_one_mtls_connection(lab_factory) -> None:
    lab = lab_factory("ambient", "single-hop")
    proc, seen = _drive(lab, connections=12, rounds=3)
    try:
        n1, n2 = lab.topo.nodes["node1"].ns, lab.topo.nodes["node2"].ns
        app_conns = _established(lab, n1, "( sport = :15001 )")  # captured by redsocks
        tls_out = _established(lab, n1, "( dport = :15008 )")  # nghttpx -> node2
        tls_in = _established(lab, n2, "( sport = :15008 )")
        to_app = _established(lab, n2, "( dport = :80 )")  # tinyproxy -> server pod
    finally:
        proc.communicate("\n", timeout=10)
    assert all(s == [200, 1024, "server"] for s in seen) and len(seen) == 36
    assert app_conns == 12 and to_app == 12  # more than nghttpx's default of 8 per backend
    assert tls_out == tls_in == 1  # 12 CONNECT streams multiplexed on one pooled connection
    # delayed ACKs off everywhere (redsocks and tinyproxy do not set TCP_NODELAY)
    for ns in (n1, lab.topo.pods["client"].ns):
        routes = lab.lab.ip(ns, "-4", "route", "show", "table", "all").splitlines()
        assert all("quickack 1" in r for r in routes if not r.startswith("broadcast"))


@pytest.mark.netns
@needs_netns
def test_hbone_rejects_a_peer_without_a_client_certificate(lab_factory) -> None:
    lab = lab_factory("ambient", "single-hop")
    server = lab.topo.pods["server"]
    # from the client pod, straight to the server's node proxy, TLS without a client cert
    probe = ("import socket, ssl, sys\n"
             "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
             "ctx.check_hostname = False\n"
             "ctx.set_alpn_protocols(['h2'])\n"
             "s = ctx.wrap_socket(socket.create_connection((sys.argv[1], 15008)))\n"
             "s.sendall(b'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n')\n"
             "print(len(s.recv(100)))\n")
    client = lab.topo.pods["client"]
    proc = subprocess.run(["ip", "netns", "exec", client.ns, sys.executable, "-c", probe,
                           server.ip, str(lab.ca.ca_cert)], capture_output=True, text=True)
    assert proc.returncode != 0 and "SSL" in proc.stderr, (proc.stdout, proc.stderr)


@pytest.mark.netns
@needs_netns
@pytest.mark.parametrize("mode", runner.MODES)
def test_three_tier_answers_through_every_tier(lab_factory, mode: str) -> None:
    lab = lab_factory(mode, "3-tier")
    proc, seen = _drive(lab, connections=4, rounds=5)
    try:
        tunnels = lab._count_tunnels()
    finally:
        proc.communicate("\n", timeout=10)
    want = "a>(b1>(c),b2>(c))"
    assert seen == [[200, 1024, want]] * 20
    names = set(lab.components)
    expected = {"none": set(),
                "sidecar": {f"sidecar_{p}" for p in ("client", "a", "b1", "b2", "c")},
                "ambient": {"ztunnel_node1", "ztunnel_node2"},
                "waypoint": {"ztunnel_node1", "ztunnel_node2", "waypoint"}}[mode]
    assert names == {"app_a", "app_b1", "app_b2", "app_c"} | expected
    if mode in ("ambient", "waypoint"):
        # node1 both sends and receives (client, a, b1); each HBONE connection is pooled
        labels = {label for label, _pid in lab.components["ztunnel_node1"][0]}
        assert labels == {"redsocks", "nghttpx_out", "nghttpx_in", "tinyproxy"}
        # at most one pooled connection per destination (a, b1, b2, c; or the waypoint), while
        # the 4 client connections alone are more app connections than that
        pools = 1 if mode == "waypoint" else 4
        assert 1 <= tunnels["node1_hbone_out"] <= pools
        assert tunnels["node1_app_in"] >= 4 + 3


@pytest.mark.netns
@pytest.mark.slow
@needs_netns
def test_sigint_during_a_three_tier_run_leaves_nothing(tmp_path: Path) -> None:
    marker = str(tmp_path)
    before = _snapshot(marker)
    env = _env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "real_bench.cli", "local", "--quick",
                             "--topology", "3-tier", "--modes", "waypoint", "--out",
                             str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        comms = set()
        for p in _procs_mentioning(marker):
            with contextlib.suppress(OSError):
                comms.add(Path(f"/proc/{p}/comm").read_text().strip())
        if "wrk" in comms:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("wrk never started")
    mid = _snapshot(marker)
    proc.send_signal(signal.SIGINT)
    rc = proc.wait(timeout=30)
    assert {"nginx", "nghttpx", "redsocks", "tinyproxy"} <= comms
    # switch, 3 nodes, client, a, b1, b2, c, waypoint
    assert len([n for n in mid["netns"] if n.startswith(f"rb-{proc.pid}-")]) == 10
    assert rc != 0
    _assert_clean(before, _snapshot(marker), proc.pid)
    assert list((tmp_path / "tmp").iterdir()) == []  # the run's temp dir (keys, configs) is gone


def test_expected_path_names_every_call() -> None:
    calls = topology.THREE_TIER.calls()
    assert apps.expected_path(calls, "a") == "a>(b1>(c),b2>(c))"
    assert apps.expected_path(topology.SINGLE_HOP.calls(), "server") == "server"


def test_three_tier_has_same_node_and_cross_node_hops() -> None:
    hops = topology.THREE_TIER.hops()
    assert ("a", "b2", "cross-node") in hops and ("a", "b1", "same-node") in hops
    assert {w for _a, _b, w in hops} == {"same-node", "cross-node"}
    assert topology.SINGLE_HOP.hops() == [("client", "server", "cross-node")]


def test_hbone_routes_by_authority_and_fails_closed() -> None:
    routes = [hbone.Route("10.102.1.2", "10.103.1.2", "waypoint.rb.local")]
    cmd = hbone.outbound_nghttpx(Path("ca"), Path("c"), Path("k"), routes)
    backends = [a for a in cmd if a.startswith("--backend=")]
    assert backends[0] == "--backend=127.0.0.1,9;;dns"  # catch-all: nothing listens
    assert backends[1] == ("--backend=10.103.1.2,15008;10.102.1.2:80;proto=h2;tls;"
                           "sni=waypoint.rb.local")
    inbound = hbone.inbound_nghttpx(Path("ca"), Path("c"), Path("k"), 1024)
    assert "--verify-client" in inbound and "--http2-proxy" in inbound
    assert "--backend-connections-per-host=1024" in inbound  # nghttpx's default 8 stalls


def test_rerun_spoiled_measures_noisy_points_again_and_keeps_the_quietest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from real_bench.record import read_jsonl, write_jsonl

    fixture = Path(__file__).resolve().parents[1] / "real_bench/results/local-full"
    recs = read_jsonl(fixture / "records.jsonl")[:3]
    for r, bg in zip(recs, (10.0, 900.0, 301.0), strict=True):
        r.host.background_cpu_millicores = bg
    write_jsonl(tmp_path / "records.jsonl", recs)
    (tmp_path / "run-meta.json").write_text((fixture / "run-meta.json").read_text())
    asked = []
    new_bg = {recs[1].requested_qps: 5.0, recs[2].requested_qps: 700.0}

    def fake_plan(m, plan, out_dir, keep, log) -> None:  # records what would be measured
        for rep, mode, rates in plan:
            for rate in rates:
                asked.append((rep, mode, rate))
                old = next(r for r in recs if r.mode == mode and r.requested_qps == rate)
                new = old.model_copy(deep=True)
                new.host.background_cpu_millicores = new_bg[rate]
                keep(new)

    monkeypatch.setattr(runner, "_run_plan", fake_plan)
    out = runner.rerun_spoiled(tmp_path, log=lambda _line: None)
    assert asked == [(0, "none", recs[1].requested_qps), (0, "none", recs[2].requested_qps)]
    # the quieter of old and new is kept per point: new for the 900, old for the 301
    assert [r.host.background_cpu_millicores for r in out] == [10.0, 5.0, 301.0]
    assert out[1].extra["rerun_of"]["background_cpu_millicores"] == 900.0
    replaced = read_jsonl(tmp_path / runner.REPLACED)
    assert sorted(r.host.background_cpu_millicores or 0 for r in replaced) == [700.0, 900.0]
    assert read_jsonl(tmp_path / "records.jsonl") == out
