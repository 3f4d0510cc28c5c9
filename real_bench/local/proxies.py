"""The sidecar stand-in (haproxy) and pod-level traffic capture; ports shared by every proxy.

- sidecar: haproxy in http mode per pod, outbound on 15001 and inbound on 15006 as in Istio,
  mTLS between them with client certificates verified, traffic captured by nftables REDIRECT
  (the proxy runs as uid 1337 and is excluded by owner, like Istio's iptables rules);
- ztunnel and waypoint: the HBONE stand-in in `hbone.py`.

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


def sidecar_cfg(ca: Path, cert: Path, routes: list[tuple[str, str]], maxconn: int) -> str:
    """An Istio-like sidecar: inbound 15006 (terminates mTLS, to the local app); outbound 15001
    (originates mTLS), one backend per `(dest pod ip, peer sidecar host)` chosen by the
    connection's original destination (haproxy reads it from the REDIRECT)."""
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
    if routes:
        out += f"""
frontend outbound
  mode http
  bind :{OUTBOUND_PORT}
"""
        out += "".join(f"  use_backend to_{ip.replace('.', '_')} if {{ dst {ip} }}\n"
                       for ip, _host in routes)
        for ip, host in routes:
            out += f"""
backend to_{ip.replace('.', '_')}
  mode http
  http-reuse safe
  server peer {ip}:{APP_PORT} {_tls_client(ca, cert, host)}
"""
    return out


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


def program_version(cmd: list[str]) -> str:
    """First line of a program's version output (e.g. 'HAProxy version 2.6.12-1')."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (proc.stdout + proc.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"
