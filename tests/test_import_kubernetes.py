"""`meshsim import kubernetes`: vendored sample apps (Bookinfo, Online Boutique) plus trace and
metrics files these tests generate, to scenarios that check and run in every mode."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, meshsim_cmd

from meshsim.errors import ScenarioError
from meshsim.importers import import_kubernetes
from meshsim.importers.manifests import quantity
from meshsim.loader import load_scenario
from meshsim.scenario import MODES
from meshsim.simulate import compare

DATA = ROOT / "tests" / "data"
BOOKINFO = DATA / "bookinfo" / "bookinfo.yaml"
BOUTIQUE = DATA / "microservices-demo" / "kubernetes-manifests.yaml"
SELF_MS = {"productpage": 2.0, "details": 0.5, "reviews": 3.0, "ratings": 0.4}
TRACES = 300
RATE_RPS = 50.0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*meshsim_cmd(), *args], capture_output=True, text=True, cwd=ROOT)


def _bookinfo_traces(parallel: bool = False, seed: int = 7, details_calls: int = 1,
                     proxies: bool = False) -> list[dict]:
    """Bookinfo requests as Istio's sidecars trace them: a server span per service and a
    client span per call. reviews v2 and v3 (2 of 3 pods) call ratings; times in seconds.
    ``proxies``: an ingress gateway's span at the root and a waypoint's before reviews."""
    rng = np.random.default_rng(seed)
    traces = []
    for t in range(TRACES):
        spans: list[dict] = []

        def add(service: str, parent: str | None, client: bool, start: float,
                spans: list[dict] = spans) -> dict:
            s = {"service": service, "id": f"{len(spans) + 1:x}", "parent": parent,
                 "client": client, "start": start, "end": start}
            spans.append(s)
            return s

        def serve(service: str, start: float, parent: str | None, t: int = t) -> float:
            own = rng.lognormal(np.log(SELF_MS[service] * 1e-3), 0.3)
            server = add(service, parent, False, start)
            callees = {"productpage": ["details"] * details_calls + ["reviews"],
                       "reviews": ["ratings"] if t % 3 else []}.get(service, [])
            cursor = start + own / 2
            ends = [cursor]
            for callee in callees:
                client = add(service, server["id"], True, start + own / 2 if parallel else cursor)
                parent = client
                if proxies and callee == "reviews":
                    parent = add("waypoint", client["id"], False, client["start"] + 5e-5)
                client["end"] = serve(callee, client["start"] + 1e-4, parent["id"]) + 1e-4
                parent["end"] = client["end"] - 5e-5
                cursor = client["end"]
                ends.append(cursor)
            server["end"] = max(ends) + own / 2
            return server["end"]

        if proxies:
            gateway = add("istio-ingressgateway", None, True, 1000.0 + t / RATE_RPS)
            gateway["end"] = serve("productpage", gateway["start"] + 1e-4, gateway["id"])
        else:
            serve("productpage", 1000.0 + t / RATE_RPS, None)
        traces.append({"id": f"t{t}", "spans": spans})
    return traces


def _jaeger(traces: list[dict]) -> dict:
    data = []
    for tr in traces:
        services = sorted({s["service"] for s in tr["spans"]})
        procs = {f"p{i}": {"serviceName": f"{s}.default", "tags": []}
                 for i, s in enumerate(services)}
        pid = {s: f"p{i}" for i, s in enumerate(services)}
        data.append({"traceID": tr["id"], "processes": procs, "spans": [{
            "traceID": tr["id"], "spanID": s["id"], "operationName": "op",
            "references": ([{"refType": "CHILD_OF", "traceID": tr["id"], "spanID": s["parent"]}]
                           if s["parent"] else []),
            "startTime": round(s["start"] * 1e6), "duration": round((s["end"] - s["start"]) * 1e6),
            "tags": [{"key": "span.kind", "type": "string",
                      "value": "client" if s["client"] else "server"}],
            "processID": pid[s["service"]]} for s in tr["spans"]]})
    return {"data": data}


def _otlp(traces: list[dict]) -> dict:
    by_service: dict[str, list[dict]] = {}
    for tr in traces:
        for s in tr["spans"]:
            by_service.setdefault(s["service"], []).append({
                "traceId": tr["id"], "spanId": s["id"], "parentSpanId": s["parent"] or "",
                "name": "op", "kind": 3 if s["client"] else 2,
                "startTimeUnixNano": str(round(s["start"] * 1e9)),
                "endTimeUnixNano": str(round(s["end"] * 1e9))})
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}]}
        for svc, spans in by_service.items()]}


def _short(path: Path, mode: str) -> list[str]:
    return ["workload.duration_s=null", "workload.requests=150", "workload.warmup_s=0",
            "sim.replications=1", f"mesh.mode={mode}"]


def test_quantities() -> None:
    assert quantity("500m") == pytest.approx(0.5)
    assert quantity("2") == 2 and quantity(2) == 2
    assert quantity("128Mi") == 128 * 2**20 and quantity("1G") == 1e9
    assert quantity("1e3") == 1000
    assert quantity("12x") is None and quantity("-1") is None and quantity(True) is None


def test_bookinfo_with_jaeger_traces_runs_in_every_mode(tmp_path: Path) -> None:
    traces = tmp_path / "traces.json"
    traces.write_text(json.dumps(_jaeger(_bookinfo_traces())))
    out = tmp_path / "bookinfo.yaml"
    proc = _cli("import", "kubernetes", str(BOOKINFO), "--traces", str(traces), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert _cli("check", str(out)).returncode == 0
    text = out.read_text()
    assert "# Imported by meshsim" in text and "defaulted" in text and "traces.json" in text
    sc = load_scenario(out).scenario
    assert set(sc.services) == {"details", "ratings", "reviews", "productpage"}
    assert sc.services["reviews"].replicas == 3  # v1, v2, v3 behind one Service
    assert sc.workload.entry == "productpage"
    assert sc.workload.generator.rate_rps == pytest.approx(RATE_RPS, rel=0.01)
    pp = sc.services["productpage"].calls
    assert [[c.service for c in step] for step in pp] == [["details"], ["reviews"]]
    (ratings,) = sc.services["reviews"].calls[0]
    assert ratings.service == "ratings" and ratings.probability == pytest.approx(2 / 3, abs=0.01)
    assert sc.services["ratings"].calls == []
    for name, own_ms in SELF_MS.items():  # lognormal(sigma 0.3) has mean own * e^0.045
        mean_ms = sc.services[name].service_time.mean_s * 1e3
        assert mean_ms == pytest.approx(own_ms * np.exp(0.045), rel=0.1), name
    loaded = load_scenario(out, _short(out, "none"))
    table = compare(loaded, list(MODES)).table()
    assert list(table["mode"]) == list(MODES)
    assert (table["verdict"] == "ok").all() and (table["throughput_rps"] > 0).all()
    means = dict(zip(table["mode"], table["mean_ms"], strict=True))
    assert all(means[m] > means["none"] for m in ("sidecar", "ambient", "waypoint"))


def test_otlp_traces_find_parallel_calls(tmp_path: Path) -> None:
    traces = tmp_path / "otlp.jsonl"  # JSON Lines, as the collector's file exporter writes
    doc = _otlp(_bookinfo_traces(parallel=True))
    traces.write_text("".join(json.dumps({"resourceSpans": [rs]}) + "\n"
                              for rs in doc["resourceSpans"]))
    imported = import_kubernetes([BOOKINFO], traces)
    pp = imported.scenario["services"]["productpage"]["calls"]
    assert [sorted(c["service"] for c in step) for step in pp] == [["details", "reviews"]]


def test_gateway_and_waypoint_spans_are_hops_not_services(tmp_path: Path) -> None:
    traces = tmp_path / "proxies.json"
    traces.write_text(json.dumps(_jaeger(_bookinfo_traces(proxies=True))))
    sc = import_kubernetes([BOOKINFO], traces).scenario
    assert set(sc["services"]) == {"details", "ratings", "reviews", "productpage"}
    assert sc["workload"]["entry"] == "productpage"
    assert sc["workload"]["generator"]["rate_rps"] == pytest.approx(RATE_RPS, rel=0.01)
    assert sc["services"]["productpage"]["calls"] == [[{"service": "details"}],
                                                      [{"service": "reviews"}]]


def test_repeated_sequential_calls_become_a_count(tmp_path: Path) -> None:
    traces = tmp_path / "repeat.json"
    traces.write_text(json.dumps(_jaeger(_bookinfo_traces(details_calls=3))))
    imported = import_kubernetes([BOOKINFO], traces)
    assert imported.scenario["services"]["productpage"]["calls"] == [
        [{"service": "details", "count": 3}], [{"service": "reviews"}]]


def test_boutique_env_call_graph_warns(tmp_path: Path) -> None:
    out = tmp_path / "boutique.yaml"
    proc = _cli("import", "kubernetes", str(BOUTIQUE), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "warning: call graph from container environment variables" in proc.stderr
    assert "SHOPPING_ASSISTANT_SERVICE_ADDR name no Service" in proc.stderr
    sc = load_scenario(out).scenario
    assert sc.workload.entry == "frontend"  # the load generator's FRONTEND_ADDR
    assert "loadgenerator" not in sc.services
    called = {c.service for step in sc.services["frontend"].calls for c in step}
    assert {"cartservice", "checkoutservice", "productcatalogservice"} <= called
    assert [c.service for step in sc.services["cartservice"].calls for c in step] == [
        "redis-cart"]
    assert sc.services["adservice"].cpu_request_m == 200  # resources.requests.cpu: 200m
    assert sc.services["redis-cart"].memory_request_mib == 200
    assert "defaulted" in out.read_text()
    loaded = load_scenario(out, _short(out, "sidecar"))
    assert compare(loaded, ["none", "sidecar"]).table()["mean_ms"].gt(0).all()


def _prometheus(tmp_path: Path) -> list[Path]:
    rates = [("unknown", "productpage-v1", 40.0), ("productpage-v1", "details-v1", 40.0),
             ("productpage-v1", "reviews-v1", 13.0), ("productpage-v1", "reviews-v2", 14.0),
             ("productpage-v1", "reviews-v3", 13.0), ("reviews-v2", "ratings-v1", 14.0),
             ("reviews-v3", "ratings-v1", 13.0)]
    result = [{"metric": {"source_workload": s, "destination_workload": d,
                          "reporter": "destination"}, "value": [1.7e9, str(v)]}
              for s, d, v in rates]
    result.append({"metric": {"source_workload": "x", "destination_workload": "details-v1",
                              "reporter": "source"}, "value": [1.7e9, "999"]})
    requests = tmp_path / "requests.json"
    requests.write_text(json.dumps({"status": "success",
                                    "data": {"resultType": "vector", "result": result}}))
    buckets = []
    for dest, mean in (("details-v1", 1.0), ("ratings-v1", 0.5)):
        for le, frac in ((mean, 0.5), (mean * 2, 1.0), (float("inf"), 1.0)):
            buckets.append({"metric": {"destination_workload": dest, "le": str(le)},
                            "value": [1.7e9, str(100 * frac)]})
    durations = tmp_path / "durations.json"
    durations.write_text(json.dumps({"status": "success",
                                     "data": {"resultType": "vector", "result": buckets}}))
    return [requests, durations]


def test_prometheus_rates_and_probabilities(tmp_path: Path) -> None:
    out = tmp_path / "prom.yaml"
    files = _prometheus(tmp_path)
    args = [a for f in files for a in ("--prometheus", str(f))]
    proc = _cli("import", "kubernetes", str(BOOKINFO), *args, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    sc = load_scenario(out).scenario
    assert sc.workload.entry == "productpage"
    assert sc.workload.generator.rate_rps == pytest.approx(40.0)
    calls = {c.service: c for step in sc.services["productpage"].calls for c in step}
    assert calls["details"].probability == 1 and calls["reviews"].probability == 1
    (ratings,) = [c for step in sc.services["reviews"].calls for c in step]
    assert ratings.probability == pytest.approx(27 / 40)  # only the destination reporter
    # buckets [0,1]: 50, [1,2]: 50 -> mean 1 ms (details has no calls: all its own time)
    assert sc.services["details"].service_time.mean_s * 1e3 == pytest.approx(1.0, rel=0.01)
    assert sc.services["ratings"].service_time.mean_s * 1e3 == pytest.approx(0.5, rel=0.01)


NODES = """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: worker-a.example, labels: {topology.kubernetes.io/zone: z1, pool: fast}}
  status: {capacity: {cpu: "8", memory: 32Gi}}
- apiVersion: v1
  kind: Node
  metadata: {name: worker-b.example, labels: {topology.kubernetes.io/zone: z2, pool: fast}}
  status: {capacity: {cpu: "8", memory: 32Gi}}
- apiVersion: v1
  kind: Node
  metadata: {name: control, labels: {}}
  spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}
  status: {capacity: {cpu: "4", memory: 8Gi}}
- apiVersion: v1
  kind: Node
  metadata: {name: slow, labels: {pool: slow}}
  status: {capacity: {cpu: 2000m, memory: 4Gi}}
"""

PINNED = """apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: api}}
    spec:
      nodeSelector: {pool: fast}
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - {labelSelector: {matchLabels: {app: api}}, topologyKey: kubernetes.io/hostname}
      containers:
      - name: api
        resources: {requests: {cpu: 250m, memory: 1Gi}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: shop}
spec:
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, env: [{name: X, value: "1"}]}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, type: LoadBalancer}
---
apiVersion: v1
kind: Service
metadata: {name: agent, namespace: shop}
spec: {selector: {app: agent}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, resources: {limits: {cpu: "1", memory: 2Gi}}}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {clusterIP: None, selector: {app: db}}
"""


def test_nodes_selectors_anti_affinity_and_daemonsets(tmp_path: Path) -> None:
    (tmp_path / "nodes.yaml").write_text(NODES)
    (tmp_path / "app.yaml").write_text(PINNED)
    imported = import_kubernetes([tmp_path / "nodes.yaml", tmp_path / "app.yaml"])
    cluster = imported.scenario["cluster"]["nodes"]
    assert [p["name"] for p in cluster] == ["worker-a-example", "worker-b-example", "slow"]
    assert cluster[0]["cores"] == 8 and cluster[0]["zone"] == "z1" and cluster[2]["cores"] == 2
    api = imported.scenario["services"]["api"]
    assert sorted(api["nodes"]) == ["worker-a-example", "worker-b-example"]
    assert api["cpu_request"] == "250m" and api["memory_request"] == "1024Mi"
    assert api["namespace"] == "shop"
    assert imported.scenario["services"]["agent"]["replicas"] == 3  # one per schedulable node
    assert imported.scenario["workload"]["entry"] == "api"  # type LoadBalancer
    db = imported.scenario["services"]["db"]  # StatefulSet; requests default to the limits
    assert db["replicas"] == 3 and db["cpu_request"] == "1000m" and db["memory_request"] == "2048Mi"
    out = tmp_path / "s.yaml"
    (tmp_path / "s.yaml").write_text(imported.text)
    assert load_scenario(out).scenario.services["api"].nodes == api["nodes"]


@pytest.mark.parametrize(("name", "text", "line", "needle"), [
    ("syntax", "kind: Deployment\nmetadata: {name: x\n", 3, "YAML syntax error"),
    ("no kind", "apiVersion: v1\nmetadata: {name: x}\n", 1, "needs a kind"),
    ("bad cpu", "kind: Deployment\nmetadata: {name: w}\nspec:\n  template:\n    spec:\n"
     "      containers:\n      - name: c\n        resources: {requests: {cpu: lots}}\n", 8,
     "spec.template.spec.containers.0.resources.requests.cpu: Deployment w: not a Kubernetes "
     "quantity"),
    ("bad replicas", "kind: Deployment\nmetadata: {name: w}\nspec:\n  replicas: two\n", 4,
     "spec.replicas"),
    ("list item", "kind: List\nitems:\n- kind: Service\n  metadata: {}\n", 4,
     "items.0.metadata.name"),
    ("node cpu", "kind: Node\nmetadata: {name: n}\nstatus: {capacity: {memory: 1Gi}}\n", 3,
     "status.capacity.cpu"),
])
def test_malformed_manifests_one_line(tmp_path: Path, name: str, text: str, line: int,
                                      needle: str) -> None:
    bad = tmp_path / f"{name.replace(' ', '-')}.yaml"
    bad.write_text(text)
    out = tmp_path / "out.yaml"
    proc = _cli("import", "kubernetes", str(bad), "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"{bad}:{line}:" in proc.stderr and needle in proc.stderr, proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(("content", "needle"), [
    ("{\"data\": [{\"spans\": [], \"processes\": {}}", "not JSON"),
    ("{\"data\": [{\"processes\": {}, \"spans\": [{\"spanID\": \"a\"}]}]}",
     "data.0.spans.0.processID: missing"),
    ("{\"resourceSpans\": [{\"resource\": {}, \"scopeSpans\": []}]}",
     "resourceSpans.0.resource.attributes: no service.name"),
    ("[1, 2]", "neither Jaeger JSON"),
])
def test_malformed_traces_one_line(tmp_path: Path, content: str, needle: str) -> None:
    bad = tmp_path / "t.json"
    bad.write_text(content)
    out = tmp_path / "out.yaml"
    proc = _cli("import", "kubernetes", str(BOOKINFO), "--traces", str(bad), "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and str(bad) in proc.stderr and needle in proc.stderr
    assert not out.exists()


def test_bad_arguments_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    proc = _cli("import", "kubernetes", str(BOOKINFO), "--entry", "nosuch", "--out", str(out))
    assert proc.returncode == 2 and "--entry: no Service named 'nosuch'" in proc.stderr
    proc = _cli("import", "kubernetes", str(tmp_path / "missing.yaml"), "--out", str(out))
    assert proc.returncode == 2 and "missing.yaml: cannot read" in proc.stderr
    assert proc.stderr.count("\n") == 1 and not out.exists()


def test_bounds_and_bad_prometheus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from meshsim.importers import manifests

    bomb = "a: &a [x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)) + "kind: Service\n"
    (tmp_path / "bomb.yaml").write_text(bomb)
    with pytest.raises(ScenarioError, match="YAML nodes"):
        import_kubernetes([tmp_path / "bomb.yaml"])
    prom = tmp_path / "p.json"
    prom.write_text(json.dumps({"status": "success", "data": {"result": [{"metric": {}}]}}))
    with pytest.raises(ScenarioError, match="no value"):
        import_kubernetes([BOOKINFO], prometheus=[prom])
    monkeypatch.setattr(manifests, "MAX_DOCUMENTS", 3)
    (tmp_path / "many.yaml").write_text("---\nkind: ConfigMap\nmetadata: {name: a}\n" * 5)
    with pytest.raises(ScenarioError, match="more than 3 YAML documents"):
        import_kubernetes([tmp_path / "many.yaml"])


def test_output_is_commented_yaml_that_round_trips(tmp_path: Path) -> None:
    imported = import_kubernetes([BOUTIQUE])
    assert yaml.safe_load(imported.text) == imported.scenario
    assert imported.text.count("\n# ") + imported.text.startswith("# ") >= 3
