"""local backend: a real --quick run in network namespaces, and proof that nothing is left.

Needs root and `ip netns` (CI runs as root); skipped otherwise. Before/after snapshots compare
network namespaces, root-namespace links and every process that mentions the run's temp dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from real_bench.errors import BenchError
from real_bench.local import loadgen, netns, runner
from real_bench.record import read_jsonl


def _netns_ok() -> bool:
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    return subprocess.run(["ip", "netns", "list"], capture_output=True).returncode == 0


needs_netns = pytest.mark.skipif(not _netns_ok(), reason="needs root and `ip netns`")


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _procs_mentioning(marker: str) -> set[int]:
    """Processes whose command line or environment mentions `marker` (the run's temp dir)."""
    found = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            blob = (d / "cmdline").read_bytes() + (d / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in blob:
            found.add(int(d.name))
    return found


def _snapshot(marker: str) -> dict[str, set]:
    return {"netns": set(netns.list_netns()), "links": _links(),
            "procs": _procs_mentioning(marker)}


def _env(tmp: Path) -> dict[str, str]:
    (tmp / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp / "tmp"), "PYTHONUNBUFFERED": "1"}


def _assert_clean(before: dict[str, set], after: dict[str, set], pid: int) -> None:
    assert not [n for n in after["netns"] if n.startswith(f"rb-{pid}-")]
    assert after["netns"] <= before["netns"], after["netns"] - before["netns"]
    assert after["links"] == before["links"]
    assert after["procs"] == set()


@pytest.mark.netns
@pytest.mark.slow
@needs_netns
def test_quick_run_measures_every_mode_and_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "out"
    marker = str(tmp_path)
    before = _snapshot(marker)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "real_bench.cli", "local", "--quick", "--out",
                           str(out)], capture_output=True, text=True, timeout=240,
                          env=_env(tmp_path))
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert elapsed < 180, f"--quick took {elapsed:.0f} s"
    _assert_clean(before, _snapshot(marker), -1)
    recs = read_jsonl(out / "records.jsonl")
    assert [r.mode for r in recs] == ["none", "sidecar", "ambient", "waypoint"]
    expected_proxies = {"none": set(), "sidecar": {"sidecar_client", "sidecar_server"},
                        "ambient": {"ztunnel_node1", "ztunnel_node2"},
                        "waypoint": {"ztunnel_node1", "ztunnel_node2", "waypoint"}}
    for r in recs:
        assert r.backend == "local" and r.open_loop and r.placement == "cross-node"
        assert r.errors.total <= 0.01 * r.latency.count, r.errors  # shared CI machines stall
        assert r.latency.count > 1500 and 0 < r.latency.p50_us <= r.latency.p99_us
        assert r.achieved_qps > 0.9 * (r.requested_qps or 0)
        names = {c.name for c in r.components}
        assert names == {"client_app", "server_app"} | expected_proxies[r.mode]
        for c in r.components:  # every proxy carried the traffic: it used CPU
            assert c.cpu_millicores is not None and c.mem_mib and c.mem_mib > 0
            if c.role != "server_app":
                assert c.cpu_millicores > 0, c
        assert r.host.background_cpu_millicores is not None
        assert r.host.network_rtt_us and r.host.network_rtt_us > 0
    assert (out / "table.csv").read_text().count("\n") == 5


@pytest.mark.netns
@pytest.mark.slow
@needs_netns
def test_sigterm_mid_run_leaves_nothing(tmp_path: Path) -> None:
    marker = str(tmp_path)
    before = _snapshot(marker)
    proc = subprocess.Popen([sys.executable, "-m", "real_bench.cli", "local", "--quick",
                             "--modes", "waypoint", "--out", str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(tmp_path))
    deadline = time.monotonic() + 60
    # wait until the load generator runs: namespaces, proxies and wrk all exist
    while time.monotonic() < deadline:
        if any(Path(f"/proc/{p}/comm").read_text().strip() == "wrk"
               for p in _procs_mentioning(marker) if Path(f"/proc/{p}/comm").exists()):
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("wrk never started")
    mid = _snapshot(marker)
    assert [n for n in mid["netns"] if n.startswith(f"rb-{proc.pid}-")]
    assert len(mid["procs"]) >= 4  # nginx, 2 ztunnels, waypoint, wrk
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM  # like Ctrl-C: one line, status, clean-up
    assert err.decode().splitlines() == [
        "real-bench: stopped by SIGTERM; everything created was removed"
    ]
    _assert_clean(before, _snapshot(marker), proc.pid)
    assert not list((tmp_path / "tmp").iterdir())  # the temp dir with the CA key is gone


def _wait_for_wrk(proc: subprocess.Popen[bytes], marker: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(Path(f"/proc/{p}/comm").read_text().strip() == "wrk"
               for p in _procs_mentioning(marker) if Path(f"/proc/{p}/comm").exists()):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    proc.kill()
    pytest.fail("wrk never started")


@pytest.mark.netns
@pytest.mark.slow
@needs_netns
def test_cleanup_after_sigkill_removes_everything_including_the_ca_key(tmp_path: Path) -> None:
    marker = str(tmp_path)
    before = _snapshot(marker)
    env = _env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "real_bench.cli", "local", "--quick",
                             "--modes", "sidecar", "--out", str(tmp_path / "out")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _wait_for_wrk(proc, marker)
    proc.kill()  # SIGKILL: no handler, no finally, no atexit
    proc.wait(timeout=10)
    left = _snapshot(marker)
    assert [n for n in left["netns"] if n.startswith(f"rb-{proc.pid}-")]
    assert left["procs"]  # nginx, haproxy sidecars and wrk live on in their namespaces
    keys = list((tmp_path / "tmp").rglob("ca.key"))
    assert keys and keys[0].stat().st_mode & 0o077 == 0  # the CA key, root-only
    done = subprocess.run([sys.executable, "-m", "real_bench.cli", "local", "--cleanup"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 temp dirs" in done.stdout
    after = _snapshot(marker)  # other runs on this machine may come and go meanwhile: ours only
    assert not [n for n in after["netns"] if n.startswith(f"rb-{proc.pid}-")]
    assert after["procs"] == set() and after["links"] <= before["links"]
    assert not list((tmp_path / "tmp").iterdir())
    assert not list(tmp_path.rglob("*.key"))


@needs_netns
def test_sweep_stale_removes_namespaces_of_dead_runs() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"rb-{dead.pid}-beef-node1"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert name in netns.sweep_stale()
        assert name not in netns.list_netns()
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_needs_root_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner.os, "geteuid", lambda: 1000)
    with pytest.raises(BenchError, match="needs root"):
        runner.ensure_prerequisites()


def test_latency_counts_wait_behind_slow_response_but_not_timer_lag() -> None:
    # request due at 1000 us; previous response on the connection came at 3000 us
    s = loadgen.Sample(0, intended_us=1000, sent_us=3010, done_us=3500, status=200)
    assert runner._latency(s, prev_done_us=3000) == 2500 - 10  # waited 2000 us: counted
    # on time: the 40 us timer wake-up lag of the generator is not the system's latency
    s = loadgen.Sample(0, intended_us=1000, sent_us=1040, done_us=1300, status=200)
    assert runner._latency(s, prev_done_us=500) == 260


def test_wrk_one_thread_per_connection() -> None:
    cmd = loadgen.wrk_command("http://10.0.0.1/payload", 16, 20)
    assert cmd[cmd.index("-t") + 1] == cmd[cmd.index("-c") + 1] == "16"
    assert loadgen.lua_script().is_file()
