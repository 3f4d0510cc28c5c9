"""kind backend: the dry run prints the whole plan; its manifests are checked structurally."""

from __future__ import annotations

import io
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
    assert other not in aff
    cmds = [" ".join(c) for c in bench.ex.commands]
    assert any(c.startswith("kind create cluster") for c in cmds)
    assert cmds[-1].startswith("kind delete cluster")
    loads = [c for c in cmds if "fortio load" in c and "-json" in c]
    assert len(loads) == 1 and "-uniform" in loads[0] and "-nocatchup" in loads[0]
    assert any("metrics/cadvisor" in c for c in cmds)
    assert any("istioctl install" in c and "profile=ambient" in c for c in cmds)
    assert any(c.startswith("sysctl -w fs.inotify.max_user_watches") for c in cmds)
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
