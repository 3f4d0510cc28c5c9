"""Configs for the real programs standing in for apps and mesh proxies, and traffic capture.

- server app: nginx returning a fixed file (`keepalive_requests` raised: the default 1000 would
  close every connection after 1000 requests and put TCP+TLS handshakes into the tail);
- sidecar: haproxy in http mode per pod, outbound on 15001 and inbound on 15006 as in Istio,
  mTLS between them with client certificates verified, traffic captured by nftables REDIRECT
  (the proxy runs as uid 1337 and is excluded by owner, like Istio's iptables rules);
- ztunnel: haproxy in tcp mode per node (L4, mTLS towards <pod ip>:15008 as HBONE does, but
  without HTTP/2 CONNECT multiplexing: one TLS connection per app connection);
- waypoint: haproxy in http mode in its own pod, terminating the client ztunnel's mTLS on 15008
  and originating mTLS to the destination's ztunnel.

Every haproxy runs one thread (`nbthread 1`) and gets `maxconn` checked against the fd limit.
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

from real_bench.errors import BenchError

PROXY_UID = 1337
APP_PORT = 80
OUTBOUND_PORT = 15001
INBOUND_PORT = 15006
HBONE_PORT = 15008


def nginx_conf(workdir: Path, payload_bytes: int) -> Path:
    """nginx serving `/payload` (`payload_bytes` bytes) on port 80, one worker, no logs."""
    www = workdir / "www"
    www.mkdir(exist_ok=True)
    (www / "payload").write_bytes(b"x" * payload_bytes)
    conf = workdir / "nginx.conf"
    conf.write_text(f"""daemon off;
master_process off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  default_type application/octet-stream;
  server {{
    listen {APP_PORT} reuseport backlog=4096;
    location / {{ root {www}; }}
  }}
}}
""")
    return conf


def check_maxconn(maxconn: int) -> None:
    """haproxy needs about 2 fds per connection plus listeners: fail early, not mid-run."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * maxconn + 64
    if hard != resource.RLIM_INFINITY and hard < need:
        raise BenchError(f"haproxy maxconn {maxconn} needs {need} file descriptors; "
                         f"the hard limit (ulimit -Hn) is {hard}")


def _haproxy_head(maxconn: int) -> str:
    check_maxconn(maxconn)
    return f"""global
  nbthread 1
  maxconn {maxconn}
  uid {PROXY_UID}
  gid {PROXY_UID}
  ssl-default-bind-options ssl-min-ver TLSv1.2
  ssl-default-server-options ssl-min-ver TLSv1.2

defaults
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  option dontlognull
"""


def _tls_server(ca: Path, cert: Path) -> str:
    return f"ssl crt {cert} ca-file {ca} verify required"


def _tls_client(ca: Path, cert: Path, peer_host: str) -> str:
    return (f"ssl crt {cert} ca-file {ca} verify required verifyhost {peer_host} "
            f"sni str({peer_host})")


def sidecar_cfg(ca: Path, cert: Path, peer_host: str, upstream_ip: str | None,
                maxconn: int) -> str:
    """An Istio-like sidecar: outbound 15001 (originates mTLS), inbound 15006 (terminates it)."""
    out = _haproxy_head(maxconn)
    out += f"""
frontend inbound
  mode http
  bind :{INBOUND_PORT} {_tls_server(ca, cert)}
  http-request deny unless {{ ssl_c_verify 0 }}
  default_backend local_app

backend local_app
  mode http
  server app 127.0.0.1:{APP_PORT}
"""
    if upstream_ip:
        out += f"""
frontend outbound
  mode http
  bind :{OUTBOUND_PORT}
  default_backend upstream

backend upstream
  mode http
  http-reuse safe
  server peer {upstream_ip}:{APP_PORT} {_tls_client(ca, cert, peer_host)}
"""
    return out


def ztunnel_cfg(ca: Path, cert: Path, next_hop: str | None, next_host: str | None,
                local_pod_ip: str | None, maxconn: int) -> str:
    """An L4 ztunnel stand-in: outbound 15001 -> mTLS to `next_hop`:15008; inbound 15008 ->
    plain TCP to the local pod."""
    out = _haproxy_head(maxconn)
    if local_pod_ip:
        out += f"""
frontend inbound
  mode tcp
  bind :{HBONE_PORT} {_tls_server(ca, cert)}
  default_backend local_pod

backend local_pod
  mode tcp
  server pod {local_pod_ip}:{APP_PORT}
"""
    if next_hop and next_host:
        out += f"""
frontend outbound
  mode tcp
  bind :{OUTBOUND_PORT}
  default_backend peer

backend peer
  mode tcp
  server peer {next_hop}:{HBONE_PORT} {_tls_client(ca, cert, next_host)}
"""
    return out


def waypoint_cfg(ca: Path, cert: Path, dest_ip: str, dest_host: str, maxconn: int) -> str:
    """An L7 waypoint: terminates mTLS from the client ztunnel, parses HTTP, re-originates mTLS
    to the destination pod's ztunnel."""
    return _haproxy_head(maxconn) + f"""
frontend hbone
  mode http
  bind :{HBONE_PORT} {_tls_server(ca, cert)}
  http-request deny unless {{ ssl_c_verify 0 }}
  default_backend destination

backend destination
  mode http
  http-reuse safe
  server dest {dest_ip}:{HBONE_PORT} {_tls_client(ca, cert, dest_host)}
"""


def sidecar_capture_rules() -> str:
    """Pod-level capture as Istio's iptables: outbound :80 -> 15001, inbound :80 -> 15006."""
    return f"""table ip rb_capture {{
  chain output {{
    type nat hook output priority -100; policy accept;
    meta skuid {PROXY_UID} return
    ip daddr 127.0.0.0/8 return
    tcp dport {APP_PORT} redirect to :{OUTBOUND_PORT}
  }}
  chain prerouting {{
    type nat hook prerouting priority -100; policy accept;
    tcp dport {APP_PORT} redirect to :{INBOUND_PORT}
  }}
}}
"""


def ztunnel_capture_rules(pod_ifaces: list[str], pod_cidr: str) -> str:
    """Node-level capture for ambient: app traffic leaving local pods -> ztunnel 15001; HBONE
    to a local pod's :15008 -> this node's ztunnel."""
    ifs = ", ".join(f'"{i}"' for i in pod_ifaces) or '"none"'
    return f"""table ip rb_capture {{
  chain prerouting {{
    type nat hook prerouting priority -100; policy accept;
    iifname {{ {ifs} }} tcp dport {APP_PORT} redirect to :{OUTBOUND_PORT}
    ip daddr {pod_cidr} tcp dport {HBONE_PORT} redirect to :{HBONE_PORT}
  }}
}}
"""


def program_version(cmd: list[str]) -> str:
    """First line of a program's version output (e.g. 'HAProxy version 2.6.12-1')."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (proc.stdout + proc.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"
