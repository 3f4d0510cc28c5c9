"""Network namespaces, veths and processes owned by one run, and their guaranteed removal.

A :class:`Lab` names everything it creates with a prefix holding the creating pid and a random
id (``rb-<pid>-<rand>-``), so cleanup removes exactly what this run made and nothing else. It
never creates an interface in the root namespace: a veth is created inside one namespace with
its peer sent straight into another, and the bridge lives in a dedicated "switch" namespace.

Cleanup runs from ``close()`` (``with`` block / ``finally``), from ``atexit``, and from SIGINT /
SIGTERM handlers that turn the signal into an exception so every ``finally`` runs. Namespaces
of a run killed with SIGKILL can be removed later with :func:`sweep_stale` (their pid is dead).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from real_bench.errors import BenchError

PREFIX = "rb-"
_LIVE: list[Lab] = []
_HANDLERS_INSTALLED = False


def _run(cmd: Sequence[str], check: bool = True, input: str | None = None) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        raise BenchError(f"command failed ({proc.returncode}): {' '.join(cmd)}: "
                         f"{proc.stderr.strip()[:300]}")
    return proc.stdout


def list_netns() -> list[str]:
    """Names of all network namespaces known to `ip netns`."""
    out = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _signal_to_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGINT into SystemExit so `finally` blocks remove what was created."""
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _signal_to_exit)
    atexit.register(close_all)
    _HANDLERS_INSTALLED = True


def close_all() -> None:
    for lab in list(_LIVE):
        lab.close()


class Lab:
    """Everything one run creates: namespaces and processes, removed by `close()`."""

    def __init__(self, workdir: Path) -> None:
        self.id = f"{os.getpid()}-{secrets.token_hex(2)}"
        self.prefix = f"{PREFIX}{self.id}-"
        self.workdir = workdir
        self.namespaces: list[str] = []
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._logs: list[IO[bytes]] = []
        self.closed = False
        install_signal_handlers()
        _LIVE.append(self)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- namespaces and links -------------------------------------------------------------
    def netns(self, role: str) -> str:
        """Create namespace `<prefix><role>` with loopback up."""
        name = self.prefix + role
        self.namespaces.append(name)  # registered first: a half-made one is still removed
        _run(["ip", "netns", "add", name])
        self.ip(name, "link", "set", "lo", "up")
        return name

    def ip(self, ns: str, *args: str) -> str:
        return _run(["ip", "-n", ns, *args])

    def exec(self, ns: str, *cmd: str, check: bool = True, input: str | None = None) -> str:
        return _run(["ip", "netns", "exec", ns, *cmd], check=check, input=input)

    def veth(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        """A veth pair made inside `ns_a` with its peer moved atomically into `ns_b`."""
        self.ip(ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
        self.ip(ns_a, "link", "set", if_a, "up")
        self.ip(ns_b, "link", "set", if_b, "up")

    def quickack(self, ns: str) -> None:
        """Turn delayed ACKs off on every IPv4 unicast route of `ns` (route attribute
        `quickack 1`). Proxies that do not set TCP_NODELAY (redsocks, tinyproxy) otherwise hold
        the second small write of a response until the peer's 40 ms delayed ACK."""
        for line in self.ip(ns, "-4", "route", "show", "table", "all").splitlines():
            spec = line.split()
            if spec and spec[0] not in ("broadcast", "multicast") and "quickack" not in spec:
                self.ip(ns, "route", "change", *spec, "quickack", "1")

    def sysctl(self, ns: str, key: str, value: str) -> None:
        self.exec(ns, "sysctl", "-q", "-w", f"{key}={value}")

    # -- processes --------------------------------------------------------------------------
    def spawn(self, ns: str, name: str, cmd: Sequence[str],
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start `cmd` inside `ns` in its own session; output goes to `<workdir>/<name>.log`."""
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (closed in close())
        self._logs.append(log)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *cmd],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **(env or {})},
        )
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 3.0) -> None:
        """SIGTERM the process group, SIGKILL after `timeout`."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)

    def close(self) -> None:
        """Kill our processes, then delete our namespaces (which removes their links)."""
        if self.closed:
            return
        self.closed = True
        # Block further signals while tearing down so a second Ctrl-C cannot leave debris.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            for _name, proc in reversed(self.procs):
                with contextlib.suppress(Exception):
                    self.stop(proc)
            for ns in reversed(self.namespaces):
                _kill_ns_pids(ns)
                _run(["ip", "netns", "del", ns], check=False)
            for log in self._logs:
                log.close()
        finally:
            if self in _LIVE:
                _LIVE.remove(self)
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _kill_ns_pids(ns: str) -> None:
    """Kill any stray process still inside a namespace we own (e.g. a forked child)."""
    out = _run(["ip", "netns", "pids", ns], check=False)
    for pid in out.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    if out.strip():
        time.sleep(0.1)


def sweep_stale() -> list[str]:
    """Remove namespaces (and their processes) left by real-bench runs whose pid is dead."""
    removed = []
    for ns in list_netns():
        m = re.match(rf"{PREFIX}(\d+)-[0-9a-f]+-", ns)
        if not m:
            continue
        pid = int(m.group(1))
        if Path(f"/proc/{pid}").exists():  # still running (or this process): not stale
            continue
        _kill_ns_pids(ns)
        _run(["ip", "netns", "del", ns], check=False)
        removed.append(ns)
    return removed
