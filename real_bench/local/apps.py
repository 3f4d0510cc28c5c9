"""The application servers: nginx, static for a leaf service, nginx + Lua for a service that
calls others.

A calling service answers each request by issuing one subrequest per downstream service **in
parallel** (``ngx.location.capture_multi``; each is proxied over a keep-alive upstream pool),
waiting for all of them, and returning 502 unless every one returned 200 with a
`payload_bytes` body. Every service adds an ``x-path`` header naming the call tree it ran
(``a>(b1>(c),b2>(c))``), so a test can check that each request really visited every tier.
One worker, no master, no logs; `keepalive_requests` raised on both sides (the default 1000
would close connections mid-run and put TCP+TLS handshakes into the tail).
"""

from __future__ import annotations

from pathlib import Path

from real_bench.local.proxies import APP_PORT

LUA_MODULES = ("/usr/lib/nginx/modules/ndk_http_module.so",
               "/usr/lib/nginx/modules/ngx_http_lua_module.so")


def _head(workdir: Path, name: str, modules: bool) -> str:
    loads = "".join(f"load_module {m};\n" for m in LUA_MODULES) if modules else ""
    return f"""{loads}daemon off;
master_process off;
worker_processes 1;
pid {workdir}/nginx-{name}.pid;
error_log {workdir}/nginx-{name}-error.log warn;
events {{ worker_connections 4096; }}
"""


def static_conf(workdir: Path, name: str, payload_bytes: int) -> Path:
    """A leaf service: `/payload` is a fixed file of `payload_bytes` bytes."""
    www = workdir / "www"
    www.mkdir(exist_ok=True)
    (www / "payload").write_bytes(b"x" * payload_bytes)
    conf = workdir / f"nginx-{name}.conf"
    conf.write_text(_head(workdir, name, modules=False) + f"""http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  default_type application/octet-stream;
  server {{
    listen {APP_PORT} reuseport backlog=4096;
    location / {{ root {www}; add_header x-path {name}; }}
  }}
}}
""")
    return conf


def fanout_conf(workdir: Path, name: str, calls: dict[str, str], payload_bytes: int) -> Path:
    """A service that calls every service in `calls` (name -> pod ip) in parallel per request."""
    upstreams = "".join(f"""  upstream svc_{c} {{
    server {ip}:{APP_PORT};
    keepalive 256;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
  }}
""" for c, ip in calls.items())
    internal = "".join(f"""    location = /_call_{c} {{
      internal;
      proxy_pass http://svc_{c}/payload;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host {c};
    }}
""" for c in calls)
    subrequests = ", ".join(f'{{"/_call_{c}"}}' for c in calls)
    lua = f"""
        local rs = {{ ngx.location.capture_multi({{ {subrequests} }}) }}
        local paths = {{}}
        for i, r in ipairs(rs) do
          if r.status ~= 200 or #r.body ~= {payload_bytes} then
            ngx.status = 502
            ngx.say("downstream call ", i, " returned ", r.status, " with ", #r.body, " bytes")
            return
          end
          paths[i] = r.header["x-path"] or "?"
        end
        ngx.header["x-path"] = "{name}>(" .. table.concat(paths, ",") .. ")"
        ngx.header["content-type"] = "application/octet-stream"
        ngx.print(rs[1].body)
"""
    conf = workdir / f"nginx-{name}.conf"
    conf.write_text(_head(workdir, name, modules=True) + f"""http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
{upstreams}  server {{
    listen {APP_PORT} reuseport backlog=4096;
    location = /payload {{
      content_by_lua_block {{{lua}      }}
    }}
{internal}  }}
}}
""")
    return conf


def expected_path(graph_calls: dict[str, tuple[str, ...]], entry: str) -> str:
    """The `x-path` header a correct answer from `entry` carries."""
    calls = graph_calls.get(entry, ())
    if not calls:
        return entry
    return f"{entry}>(" + ",".join(expected_path(graph_calls, c) for c in calls) + ")"
