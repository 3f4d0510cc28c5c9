"""The HBONE stand-in: app TCP carried as HTTP/2 CONNECT streams over pooled mTLS connections.

Istio ambient's ztunnel captures a pod's outbound TCP connection, opens (or reuses) an mTLS
HTTP/2 connection to the destination's node proxy on port 15008 and sends the TCP connection as
one ``CONNECT <pod ip>:<port>`` stream on it; many streams share one connection (ztunnel's pool
allows 100 streams per connection). The inbound side terminates TLS and HTTP/2 and opens a plain
TCP connection to the pod. No Debian-packaged proxy does the outbound half from captured TCP in
one process (Envoy's ``tcp_proxy`` tunnelling and ztunnel itself are not in Debian; see
real_bench/README.md, "Why nghttpx for the HBONE stand-in"), so each half is a pair:

- outbound: **redsocks** (transparent capture: reads the original destination of the
  nftables-redirected connection and asks an HTTP proxy for ``CONNECT <dst>``) -> **nghttpx**
  (HTTP/1 CONNECT in on loopback; out as an HTTP/2 CONNECT stream over mTLS, pooled and
  multiplexed per destination, routed by the CONNECT authority);
- inbound: **nghttpx** ``--http2-proxy`` (terminates mTLS and HTTP/2, client certificate
  verified) -> **tinyproxy** (terminates the CONNECT on loopback and connects to the pod);
- waypoint: one **nghttpx** terminating HBONE streams and re-originating them as HBONE
  streams to the destination's node proxy, routed by authority.

Every nghttpx runs ``--single-process --workers=1`` (one worker thread, like ``nbthread 1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from real_bench.local.proxies import APP_PORT, HBONE_PORT, OUTBOUND_PORT

CONNECT_PORT = 15080  # nghttpx outbound: HTTP/1 CONNECT from redsocks, loopback only
TERMINATOR_PORT = 15081  # tinyproxy behind the inbound nghttpx, loopback only
MAX_STREAMS_PER_CONNECTION = 100  # ztunnel's pool default, and nghttpx's


@dataclass(frozen=True)
class Route:
    """CONNECT authority `<dest_ip>:<port>` goes to `next_hop`:15008, whose cert names
    `peer_host`."""

    dest_ip: str
    next_hop: str
    peer_host: str


def _nghttpx_common() -> list[str]:
    # Long timeouts: a tunnel stays idle between a run's warm-up and measurement phases.
    return ["nghttpx", "--conf=/dev/null", "--single-process", "--workers=1", "--no-via",
            "--no-server-push", "--frontend-read-timeout=300s", "--backend-read-timeout=300s",
            "--frontend-http2-read-timeout=300s", "--backend-keep-alive-timeout=300s",
            "--frontend-keep-alive-timeout=300s",
            f"--backend-http2-max-concurrent-streams={MAX_STREAMS_PER_CONNECTION}",
            f"--frontend-http2-max-concurrent-streams={MAX_STREAMS_PER_CONNECTION}"]


def _backends(routes: list[Route]) -> list[str]:
    """One pooled h2+mTLS backend per route, matched on the CONNECT authority; anything else
    falls to a closed port (a visible 502, never a silent wrong route)."""
    args = ["--backend=127.0.0.1,9;;dns"]
    for r in routes:
        args.append(f"--backend={r.next_hop},{HBONE_PORT};{r.dest_ip}:{APP_PORT};proto=h2;tls;"
                    f"sni={r.peer_host}")
    return args


def _client_tls(ca: Path, cert: Path, key: Path) -> list[str]:
    return [f"--client-private-key-file={key}", f"--client-cert-file={cert}", f"--cacert={ca}"]


def _server_tls(ca: Path) -> list[str]:
    return ["--no-ocsp", "--verify-client", f"--verify-client-cacert={ca}"]


def outbound_nghttpx(ca: Path, cert: Path, key: Path, routes: list[Route]) -> list[str]:
    """HTTP/1 CONNECT on loopback in, HTTP/2 CONNECT streams over pooled mTLS out."""
    return [*_nghttpx_common(), f"--frontend=127.0.0.1,{CONNECT_PORT};no-tls",
            *_backends(routes), *_client_tls(ca, cert, key)]


def inbound_nghttpx(ca: Path, cert: Path, key: Path, max_tunnels: int) -> list[str]:
    """mTLS HTTP/2 on :15008 in; each CONNECT stream handed to the local terminator (one
    loopback connection per stream: raise nghttpx's default cap of 8 per backend host, which
    would leave the 9th tunnel waiting)."""
    return [*_nghttpx_common(), "--http2-proxy", f"--frontend=*,{HBONE_PORT}",
            f"--backend=127.0.0.1,{TERMINATOR_PORT}",
            f"--backend-connections-per-host={max_tunnels}", *_server_tls(ca), str(key),
            str(cert)]


def waypoint_nghttpx(ca: Path, cert: Path, key: Path, routes: list[Route]) -> list[str]:
    """HBONE in on :15008 (mTLS, client verified), HBONE out per destination."""
    return [*_nghttpx_common(), f"--frontend=*,{HBONE_PORT}", *_backends(routes),
            *_client_tls(ca, cert, key), *_server_tls(ca), str(key), str(cert)]


def redsocks_conf(path: Path) -> Path:
    """Captured TCP on :15001 -> `CONNECT <original destination>` to the outbound nghttpx."""
    path.write_text(f"""base {{
  log_debug = off;
  log_info = off;
  log = stderr;
  daemon = off;
  redirector = iptables;
}}
redsocks {{
  local_ip = 0.0.0.0;
  local_port = {OUTBOUND_PORT};
  ip = 127.0.0.1;
  port = {CONNECT_PORT};
  type = http-connect;
}}
""")
    return path


def tinyproxy_conf(path: Path, max_clients: int) -> Path:
    """Loopback-only CONNECT terminator, CONNECT allowed to the app port only."""
    path.write_text(f"""Port {TERMINATOR_PORT}
Listen 127.0.0.1
Timeout 600
MaxClients {max_clients}
ConnectPort {APP_PORT}
DisableViaHeader Yes
LogLevel Warning
""")
    return path


def capture_rules(pod_ifaces: list[str], pod_cidr: str) -> str:
    """Node-level capture: app traffic leaving local pods -> redsocks :15001; HBONE to a local
    pod's :15008, from another node (prerouting) or from this node's own proxy for a same-node
    destination (output) -> this node's inbound nghttpx."""
    ifs = ", ".join(f'"{i}"' for i in pod_ifaces) or '"none"'
    return f"""table ip rb_capture {{
  chain prerouting {{
    type nat hook prerouting priority -100; policy accept;
    iifname {{ {ifs} }} tcp dport {APP_PORT} redirect to :{OUTBOUND_PORT}
    ip daddr {pod_cidr} tcp dport {HBONE_PORT} redirect to :{HBONE_PORT}
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    ip daddr {pod_cidr} tcp dport {HBONE_PORT} redirect to :{HBONE_PORT}
  }}
}}
"""
