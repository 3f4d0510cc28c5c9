"""kind backend: the dry run prints the whole plan; its manifests are checked structurally; a
fake executor shows the real flow never deletes what it did not create and refuses to measure a
mode that is not in place."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from real_bench.errors import BenchError
from real_bench.kind import plan
from real_bench.kind.plan import KindMatrix, load_matrix

MODES = ["none", "sidecar", "ambient", "waypoint"]
EXAMPLE = Path(plan.__file__).parent / "configs" / "matrix-example.yaml"


def _dry(tmp_path: Path, **kw: object) -> tuple[plan.KindBench, str]:
    m = KindMatrix.model_validate({"qps": [1000], "connections": [16], "repetitions": 1,
                                   "duration_s": 60, "warmup_s": 10, **kw})
    out = io.StringIO()
    bench = plan.run(m, dry_run=True, out_dir=tmp_path, stream=out)
    return bench, out.getvalue()


def _heredocs(text: str) -> list[dict]:
    docs = []
    for block in re.findall(r"apply -f - <<'EOF'\n(.*?)EOF\n", text, flags=re.S):
        docs.extend(d for d in yaml.safe_load_all(block) if d)
    return docs


@pytest.mark.parametrize("placement", ["cross-node", "same-node"])
@pytest.mark.parametrize("mode", MODES)
def test_dry_run_every_mode(tmp_path: Path, mode: str, placement: str) -> None:
    bench, text = _dry(tmp_path, modes=[mode], placement=[placement])
    docs = _heredocs(text)
    assert docs == bench.ex.manifests  # the printed YAML is valid and is what would be applied
    kinds = [d["kind"] for d in docs]
    assert kinds.count("Deployment") == 2 and "Service" in kinds and "Namespace" in kinds
    ns = next(d for d in docs if d["kind"] == "Namespace")["metadata"]["labels"]
    assert ns["real-bench/mode"] == mode
    assert ("istio-injection" in ns) == (mode == "sidecar")
    assert (ns.get("istio.io/dataplane-mode") == "ambient") == (mode in ("ambient", "waypoint"))
    assert (ns.get("istio.io/use-waypoint") == "waypoint") == (mode == "waypoint")
    assert ("Gateway" in kinds) == (mode == "waypoint")
    if mode == "waypoint":
        gw = next(d for d in docs if d["kind"] == "Gateway")
        assert gw["spec"]["gatewayClassName"] == "istio-waypoint"
        assert gw["spec"]["listeners"][0]["port"] == 15008
    deps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    for name, dep in deps.items():
        tmpl = dep["spec"]["template"]
        assert tmpl["metadata"]["labels"]["app"] == name
        assert dep["spec"]["selector"]["matchLabels"]["app"] == name
        req = tmpl["spec"]["containers"][0]["resources"]["requests"]
        assert req["cpu"] and req["memory"]
        node_terms = tmpl["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert node_terms[0]["matchExpressions"][0]["key"] == "real-bench/role"
        anns = tmpl["metadata"]["annotations"]
        assert ("sidecar.istio.io/proxyCPU" in anns) == (mode == "sidecar")
    aff = deps["fortio-client"]["spec"]["template"]["spec"]["affinity"]
    key = "podAntiAffinity" if placement == "cross-node" else "podAffinity"
    other = "podAffinity" if placement == "cross-node" else "podAntiAffinity"
    term = aff[key]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["app"] == "fortio-server"
    if mode == "waypoint":  # every fortio pod stays off the waypoint's own node
        for dep in deps.values():
            anti = dep["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"]
            assert any(t["labelSelector"]["matchLabels"].get(
                "gateway.networking.k8s.io/gateway-name") == "waypoint" for t in anti)
        placement_cm = next(d for d in docs if d["kind"] == "ConfigMap")
        overlay = yaml.safe_load(placement_cm["data"]["deployment"])
        wp_anti = overlay["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        assert wp_anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"][
            "matchExpressions"][0]["values"] == ["fortio-server", "fortio-client"]
        assert gw["spec"]["infrastructure"]["parametersRef"]["name"] == placement_cm[
            "metadata"]["name"]
    else:
        assert other not in aff
    cmds = [" ".join(c) for c in bench.ex.commands]
    load, setup = plan.expected_seconds(bench.m, existing_cluster=False)
    assert load == 70  # one point: 10 s warm-up + 60 s run
    assert f"# expected duration: about {(load + setup) / 60:.0f} min" in text
    create = next(c for c in cmds if c.startswith("kind create cluster"))
    assert f"--image {plan.DEFAULT_NODE_IMAGE}" in create
    assert cmds.index("kind get clusters") < cmds.index(create)  # never over an existing one
    assert f"verify {mode}/{placement}" in text
    assert cmds[-1].startswith("kind delete cluster")
    loads = [c for c in cmds if "fortio load" in c and "-json" in c]
    assert len(loads) == 1 and "-uniform" in loads[0] and "-nocatchup" in loads[0]
    assert any("metrics/cadvisor" in c for c in cmds)
    assert any("istioctl install" in c and "profile=ambient" in c for c in cmds)
    assert any("delete namespace" in c for c in cmds)


def test_cluster_config_has_three_workers() -> None:
    cfg = yaml.safe_load(plan.cluster_config_path().read_text())
    assert cfg["kind"] == "Cluster"
    workers = [n for n in cfg["nodes"] if n["role"] == "worker"]
    assert len(workers) >= 3
    assert all(n["labels"]["real-bench/role"] == "worker" for n in workers)


def test_cilium_and_helm_variants(tmp_path: Path) -> None:
    bench, text = _dry(tmp_path, modes=["ambient"], cilium=True, install_with="helm")
    assert "disableDefaultCNI: true" in text
    cmds = [" ".join(c) for c in bench.ex.commands]
    assert any("helm install cilium" in c and "ipam.mode=kubernetes" in c for c in cmds)
    assert [c.split()[2] for c in cmds if c.startswith("helm install istio")] == [
        "istio-base", "istiod", "istio-cni"]
    assert any(c.startswith("helm install ztunnel") for c in cmds)


def test_cpu_sets() -> None:
    assert plan.cpu_sets(8, 4) == ["0-1", "2-3", "4-5", "6-7"]
    assert plan.cpu_sets(4, 4) == ["0", "1", "2", "3"]
    assert plan.cpu_sets(2, 4) is None


def test_example_matrix_and_full_plan(tmp_path: Path) -> None:
    m = load_matrix(EXAMPLE)
    bench = plan.run(m, dry_run=True, out_dir=tmp_path, stream=io.StringIO())
    n_points = (len(m.modes) * len(m.qps) * len(m.connections) * len(m.payload_bytes)
                * len(m.placement) * m.repetitions)
    loads = [c for c in bench.ex.commands if "load" in c and "-json" in c]
    assert len(loads) == n_points


def test_missing_prerequisites_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan.shutil, "which", lambda _name: None)
    m = KindMatrix()
    bench = plan.KindBench(m, plan.Executor(False, io.StringIO()), Path("."))
    with pytest.raises(BenchError) as err:
        bench.prerequisites()
    for tool in ("docker", "kind", "kubectl", "istioctl"):
        assert f"{tool}: not found on PATH" in str(err.value)


@pytest.mark.parametrize(("text", "needle"), [
    ("modes: [none, mesh]\n", "field modes.1"),
    ("qps: []\n", "field qps"),
    ("qps: [-5]\n", "field qps"),
    ("repetitions: 0\n", "field repetitions"),
    ("bogus: 1\n", "field bogus"),
    ("modes: [none\n", "not valid YAML"),
])
def test_bad_matrix_one_line_exit_2(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "matrix.yaml"
    f.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "real_bench.cli", "kind", str(f), "--dry-run"],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert str(f) in proc.stderr and needle in proc.stderr


# -- the real flow, with a fake executor -----------------------------------------------------


class FakeExecutor(plan.Executor):
    """Runs nothing: answers each command from the first rule whose text it contains."""

    def __init__(self, rules: list[tuple[str, int, str]]) -> None:
        super().__init__(False, io.StringIO())
        self.rules = rules

    def run_command(self, argv: list[str], input: str | None, timeout: float | None
                    ) -> subprocess.CompletedProcess:
        text = " ".join(argv)
        for needle, code, out in self.rules:
            if needle in text:
                return subprocess.CompletedProcess(argv, code, out, "boom" if code else "")
        return subprocess.CompletedProcess(argv, 0, "", "")

    def ran(self, prefix: str) -> list[str]:
        return [" ".join(c) for c in self.commands if " ".join(c).startswith(prefix)]


@pytest.fixture
def real_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    """No tools, no signals, no root, and inotify limits already high enough."""
    monkeypatch.setattr(plan, "check_prerequisites", lambda m, existing=False: ({}, []))
    monkeypatch.setattr(plan.signal, "signal", lambda *a: None)
    monkeypatch.setattr(plan, "read_sysctl", lambda key: 10**7)


def _matrix(**kw: object) -> KindMatrix:
    return KindMatrix.model_validate({"modes": ["sidecar"], "qps": [100], "repetitions": 1,
                                      "duration_s": 5, "warmup_s": 0, **kw})


def _pod(app: str, node: str, sidecar: bool = False, ambient: bool = False,
         labels: dict | None = None) -> dict:
    containers = [{"name": "fortio"}] + ([{"name": "istio-proxy"}] if sidecar else [])
    return {"metadata": {"name": f"{app}-1", "labels": labels or {"app": app},
                         "annotations": ({"ambient.istio.io/redirection": "enabled"}
                                         if ambient else {})},
            "spec": {"nodeName": node, "containers": containers},
            "status": {"phase": "Running"}}


def _pods(*pods: dict) -> str:
    return json.dumps({"items": list(pods)})


def test_failed_kind_create_deletes_nothing(tmp_path: Path, real_flow: None) -> None:
    ex = FakeExecutor([("kind create cluster", 1, "")])
    with pytest.raises(BenchError, match="command failed"):
        plan.run(_matrix(), False, tmp_path, executor=ex)
    assert ex.ran("kind create cluster") and not ex.ran("kind delete")


def test_existing_cluster_of_the_same_name_is_left_alone(tmp_path: Path, real_flow: None
                                                          ) -> None:
    ex = FakeExecutor([("kind get clusters", 0, "other\nreal-bench\n")])
    with pytest.raises(BenchError, match=r"already exists.*--context kind-real-bench"):
        plan.run(_matrix(), False, tmp_path, executor=ex)
    assert not ex.ran("kind create") and not ex.ran("kind delete")


def test_cluster_this_run_created_is_deleted_on_failure(tmp_path: Path, real_flow: None) -> None:
    ex = FakeExecutor([("istioctl install", 1, "")])
    with pytest.raises(BenchError):
        plan.run(_matrix(), False, tmp_path, executor=ex)
    assert ex.ran("kind delete cluster --name real-bench")
    assert [" ".join(c) for c in ex.commands][-1] == "kind delete cluster --name real-bench"


def test_keep_cluster_keeps_it(tmp_path: Path, real_flow: None) -> None:
    ex = FakeExecutor([("istioctl install", 1, "")])
    with pytest.raises(BenchError):
        plan.run(_matrix(keep_cluster=True), False, tmp_path, executor=ex)
    assert ex.ran("kind create") and not ex.ran("kind delete")


def test_context_never_creates_changes_or_deletes_the_cluster(tmp_path: Path, real_flow: None
                                                              ) -> None:
    ex = FakeExecutor([
        ("get nodes -l real-bench/role=worker", 0, "node/a\nnode/b\n"),
        ("get pods -o json", 0, _pods(_pod("fortio-server", "a"), _pod("fortio-client", "b"))),
    ])
    with pytest.raises(BenchError, match=r"refusing to measure sidecar/cross-node.*no "
                       r"istio-proxy sidecar"):
        plan.run(_matrix(), False, tmp_path, context="prod", executor=ex)
    cmds = [" ".join(c) for c in ex.commands]
    assert not [c for c in cmds if c.startswith(("kind ", "istioctl", "helm", "sysctl",
                                                 "docker"))]
    assert all(c.startswith("kubectl --context prod") for c in cmds)
    assert not [c for c in cmds if "fortio load" in c]  # refused before measuring
    # the namespace it created (and only that) is removed again
    assert [c for c in cmds if " delete " in c] == [
        "kubectl --context prod delete namespace rb-sidecar-x --wait=true --timeout=300s"]


def test_context_needs_labelled_workers(tmp_path: Path, real_flow: None) -> None:
    ex = FakeExecutor([("get nodes -l", 0, "node/a\n")])
    with pytest.raises(BenchError, match="1 nodes labelled real-bench/role=worker; 2 needed"):
        plan.run(_matrix(), False, tmp_path, context="prod", executor=ex)
    assert not [c for c in ex.commands if "apply" in c or "delete" in c]


def test_an_existing_namespace_is_neither_used_nor_deleted(tmp_path: Path, real_flow: None
                                                           ) -> None:
    ex = FakeExecutor([("get nodes -l", 0, "node/a\nnode/b\n"),
                       ("get namespace rb-sidecar-x", 0, "namespace/rb-sidecar-x\n")])
    with pytest.raises(BenchError, match="namespace rb-sidecar-x already exists"):
        plan.run(_matrix(), False, tmp_path, context="prod", executor=ex)
    assert not [c for c in ex.commands if "apply" in c or "delete" in c]


@pytest.mark.parametrize(("have", "root", "raised", "warned"), [
    (2.0, True, False, False),   # higher than needed: never lowered
    (1.0, True, False, False),   # exactly enough
    (0.5, True, True, False),    # too low, root: raised
    (0.5, False, False, True),   # too low, not root: skipped with a warning
    (None, False, False, True),  # unreadable, not root
])
def test_sysctl_only_raises(monkeypatch: pytest.MonkeyPatch, have: float | None, root: bool,
                            raised: bool, warned: bool) -> None:
    """`have` is the current value as a fraction of what kind needs."""
    monkeypatch.setattr(plan, "read_sysctl",
                        lambda key: None if have is None else int(plan.INOTIFY[key] * have))
    monkeypatch.setattr(plan.os, "geteuid", lambda: 0 if root else 1000)
    ex = FakeExecutor([])
    plan.KindBench(_matrix(), ex, Path(".")).raise_inotify()
    assert bool(ex.ran("sysctl -w")) == raised
    if raised:
        assert ex.ran("sysctl -w") == ["sysctl -w fs.inotify.max_user_watches=524288",
                                       "sysctl -w fs.inotify.max_user_instances=512"]
    assert bool(ex.warnings) == warned


GOOD = {
    "none": [_pod("fortio-server", "a"), _pod("fortio-client", "b")],
    "sidecar": [_pod("fortio-server", "a", sidecar=True), _pod("fortio-client", "b", True)],
    "ambient": [_pod("fortio-server", "a", ambient=True), _pod("fortio-client", "b", ambient=True)],
    "waypoint": [_pod("fortio-server", "a", ambient=True), _pod("fortio-client", "b", ambient=True),
                 _pod("waypoint", "c", labels={"gateway.networking.k8s.io/gateway-name":
                                               "waypoint"})],
}


@pytest.mark.parametrize("mode", MODES)
def test_pod_checks_accept_each_mode_and_reject_the_others(mode: str) -> None:
    from real_bench.kind.verify import pod_problems

    assert pod_problems(mode, "cross-node", "own", {"items": GOOD[mode]}) == []
    for other in MODES:
        if other != mode:
            assert pod_problems(other, "cross-node", "own", {"items": GOOD[mode]}), (mode, other)
    assert pod_problems(mode, "same-node", "own", {"items": GOOD[mode]})  # client, server apart


def test_waypoint_node_and_traffic_checks() -> None:
    from real_bench.kind.verify import pod_problems, waypoint_requests

    on_client = [*GOOD["waypoint"][:2], _pod("waypoint", "b", labels={
        "gateway.networking.k8s.io/gateway-name": "waypoint"})]
    assert "not a node of its own" in pod_problems("waypoint", "cross-node", "own",
                                                   {"items": on_client})[0]
    assert pod_problems("waypoint", "cross-node", "server", {"items": on_client})
    assert pod_problems("waypoint", "cross-node", "any", {"items": on_client}) == []
    stats = ('istio_requests_total{reporter="waypoint",destination_workload="fortio-server"} 20\n'
             'istio_requests_total{reporter="waypoint",destination_workload="other"} 5\n')
    assert waypoint_requests(stats) == 20 and waypoint_requests("") == 0


def test_waypoint_that_carries_no_traffic_is_refused(tmp_path: Path, real_flow: None) -> None:
    ex = FakeExecutor([("get pods -o json", 0, _pods(*GOOD["waypoint"])),
                       ("stats/prometheus", 0, "# no requests\n")])
    with pytest.raises(BenchError, match="waypoint counted no requests"):
        plan.run(_matrix(modes=["waypoint"]), False, tmp_path, executor=ex)
    assert not [c for c in ex.commands if "-json" in c]
    assert ex.ran("kind delete cluster")  # ours: cleaned up


FORTIO = {"RunType": "HTTP", "Labels": "x", "RequestedQPS": "100", "ActualQPS": 100.0,
          "ActualDuration": 5e9, "NumThreads": 16, "RetCodes": {"200": 500},
          "DurationHistogram": {"Count": 500, "Min": 0.001, "Max": 0.002, "Avg": 0.0015,
                                "Data": [{"Start": 0.001, "End": 0.002, "Percent": 100,
                                          "Count": 500}],
                                "Percentiles": [{"Percentile": p, "Value": 0.0015}
                                                for p in (50, 75, 90, 99, 99.9)]}}


def test_empty_cpu_metrics_warn(tmp_path: Path, real_flow: None) -> None:
    ex = FakeExecutor([("get pods -o json", 0, _pods(*GOOD["sidecar"])),
                       ("-json", 0, json.dumps(FORTIO))])
    bench = plan.run(_matrix(), False, tmp_path, executor=ex)
    assert len(bench.records) == 1 and bench.records[0].components == []
    assert any("no CPU counters" in w for w in ex.warnings)


def test_node_image_must_be_supported_by_istio() -> None:
    assert plan.kubernetes_version(plan.DEFAULT_NODE_IMAGE) == "1.34"
    assert "1.34" in plan.ISTIO_KUBERNETES[".".join(plan.DEFAULT_ISTIO.split(".")[:2])]
    with pytest.raises(ValueError, match=r"Istio 1\.30 supports"):
        KindMatrix(node_image="kindest/node:v1.28.0")
    KindMatrix(istio_version="1.99.0", node_image="kindest/node:v1.28.0")  # table unknown


@pytest.mark.parametrize("mode", MODES)
def test_dry_run_on_an_existing_context_creates_nothing(mode: str, tmp_path: Path) -> None:
    f = tmp_path / "matrix.yaml"
    f.write_text(f"modes: [{mode}]\nqps: [100]\nrepetitions: 1\nduration_s: 5\nwarmup_s: 1\n")
    proc = subprocess.run([sys.executable, "-m", "real_bench.cli", "kind", str(f), "--dry-run",
                           "--context", "my-cluster"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if line.startswith("$ ")]
    assert commands and all(c.startswith("$ kubectl --context my-cluster") for c in commands)
    assert "never deleted" in proc.stdout and "# expected duration: about" in proc.stdout


# --- Linkerd and Cilium ------------------------------------------------------------------


@pytest.mark.parametrize("placement", ["cross-node", "same-node"])
@pytest.mark.parametrize("mode", ["linkerd", "cilium"])
def test_dry_run_linkerd_and_cilium(tmp_path: Path, mode: str, placement: str) -> None:
    bench, text = _dry(tmp_path, modes=[mode], placement=[placement], cilium=mode == "cilium")
    docs = _heredocs(text)
    assert docs == bench.ex.manifests
    ns = next(d for d in docs if d["kind"] == "Namespace")["metadata"]
    assert ns["labels"]["real-bench/mode"] == mode
    assert not {"istio-injection", "istio.io/dataplane-mode"} & set(ns["labels"])
    assert (ns.get("annotations", {}).get("linkerd.io/inject") == "enabled") == (mode == "linkerd")
    for dep in (d for d in docs if d["kind"] == "Deployment"):
        anns = dep["spec"]["template"]["metadata"]["annotations"]
        assert ("config.linkerd.io/proxy-cpu-request" in anns) == (mode == "linkerd")
        assert "sidecar.istio.io/proxyCPU" not in anns
    cmds = [" ".join(c) for c in bench.ex.commands]
    assert not any(c.startswith("istioctl install") for c in cmds)  # no Istio mode measured
    if mode == "linkerd":
        crds = cmds.index("linkerd install --crds --context kind-real-bench")
        control = cmds.index("linkerd install --context kind-real-bench")
        check = next(i for i, c in enumerate(cmds) if c.startswith("linkerd check"))
        assert crds < control < check < next(i for i, c in enumerate(cmds) if "fortio load" in c)
        assert "linkerd" in plan.required_tools(bench.m)
    else:
        helm = next(c for c in cmds if c.startswith("helm install cilium"))
        assert "encryption.enabled=true" in helm and "encryption.type=wireguard" in helm
        assert "istioctl" not in plan.required_tools(bench.m)
    assert f"verify {mode}/{placement}" in text
    assert cmds[-1].startswith("kind delete cluster")


def test_cilium_mode_needs_cilium_and_can_skip_encryption(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cilium: true"):
        KindMatrix.model_validate({"modes": ["cilium"]})
    bench, _ = _dry(tmp_path, modes=["cilium"], cilium=True, cilium_encryption="none")
    helm = next(" ".join(c) for c in bench.ex.commands if c[:3] == ["helm", "install", "cilium"])
    assert "encryption" not in helm


def test_pod_checks_for_linkerd_and_cilium() -> None:
    from real_bench.kind.verify import pod_problems

    def linkerd_pod(app: str, node: str) -> dict:
        pod = _pod(app, node)
        pod["spec"]["containers"].append({"name": "linkerd-proxy"})
        return pod

    meshed = [linkerd_pod("fortio-server", "a"), linkerd_pod("fortio-client", "b")]
    assert pod_problems("linkerd", "cross-node", "own", {"items": meshed}) == []
    assert pod_problems("cilium", "cross-node", "own", {"items": meshed})  # unexpected proxies
    plain = GOOD["none"]
    assert pod_problems("cilium", "cross-node", "own", {"items": plain}) == []
    assert any("no linkerd-proxy" in p
               for p in pod_problems("linkerd", "cross-node", "own", {"items": plain}))
