"""`real-bench kind MATRIX.yaml`: real Istio on a kind cluster, measured with fortio.

The same code path does the real run and the dry run: every command goes through
:meth:`Executor.sh` and every manifest through :meth:`Executor.apply`, which in dry-run mode
print instead of executing (and return empty output; steps that need real output say so in a
comment). So `--dry-run` shows exactly what a real run would do, in order.

Steps: check prerequisites -> raise inotify limits -> create the cluster from
``configs/kind-cluster.yaml`` (>= 3 workers) -> pin node containers to disjoint CPU sets ->
optional Cilium -> Gateway API CRDs (waypoint) -> Istio (ambient profile: istiod, CNI, ztunnel;
sidecar injection still works per namespace) -> per (mode, placement): namespace labelled for the
mode, waypoint, fortio server + client -> per point: warm-up, cAdvisor counters, `fortio load
-json`, cAdvisor counters -> record -> delete namespace -> delete cluster.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TextIO

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from real_bench.errors import BenchError
from real_bench.files import field_path, read_text
from real_bench.fortio import record_from_fortio
from real_bench.kind import manifests, metrics
from real_bench.record import Component, Host, RunRecord, write_jsonl

INOTIFY = {"fs.inotify.max_user_watches": 524288, "fs.inotify.max_user_instances": 512}
GATEWAY_API = ("https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.2.1/"
               "standard-install.yaml")
ISTIO_HELM_REPO = "https://istio-release.storage.googleapis.com/charts"
CILIUM_HELM_REPO = "https://helm.cilium.io/"
# fortio flags: -uniform spreads connection start times, -nocatchup stops a late connection from
# bursting to catch up. fortio still times each request from its actual send (closed loop per
# connection): points where the system slowed the generator show as achieved < requested QPS
# and are marked invalid by the record's verdict.
FORTIO_PACING = ["-uniform", "-nocatchup"]
FORTIO_STATS = ["-r", "0.00001", "-p", "50,75,90,99,99.9"]


class KindMatrix(BaseModel):
    """The measurement plan: modes x qps x connections x payload x placement x repetitions."""

    model_config = ConfigDict(extra="forbid")

    cluster_name: str = "real-bench"
    istio_version: str = "1.24.2"
    install_with: Literal["istioctl", "helm"] = "istioctl"
    cilium: bool = False
    cilium_version: str = "1.16.5"
    modes: list[Literal["none", "sidecar", "ambient", "waypoint"]] = Field(
        default_factory=lambda: ["none", "sidecar", "ambient", "waypoint"])
    qps: list[float] = Field(default_factory=lambda: [1000.0])
    connections: list[int] = Field(default_factory=lambda: [16])
    payload_bytes: list[int] = Field(default_factory=lambda: [1024])
    placement: list[Literal["cross-node", "same-node"]] = Field(
        default_factory=lambda: ["cross-node"])
    repetitions: int = Field(3, ge=1)
    duration_s: float = Field(240.0, gt=0)
    warmup_s: float = Field(30.0, ge=0)
    fortio_image: str = "fortio/fortio:1.69.1"
    app_cpu: str = "1000m"
    app_memory: str = "256Mi"
    proxy_cpu: str = "500m"
    proxy_memory: str = "128Mi"
    pin_cpus: bool = True
    keep_cluster: bool = False

    @field_validator("qps", "connections", "payload_bytes", "modes", "placement")
    @classmethod
    def _non_empty(cls, v: list[Any]) -> list[Any]:
        if not v:
            raise ValueError("must not be empty")
        return v

    @field_validator("qps")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(q <= 0 for q in v):
            raise ValueError("every qps must be > 0 (fixed-rate points only)")
        return v


def load_matrix(path: Path) -> KindMatrix:
    """Parse MATRIX.yaml (yaml.safe_load); errors name the file and the field."""
    text = read_text(path, MAX_MATRIX_BYTES)
    try:
        _check_yaml_shape(text, path)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # the parser's problem only: its context quotes the file
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = str(getattr(exc, "problem", None) or "cannot parse")[:60]
        raise BenchError(f"{where}: not valid YAML: {problem}") from None
    if not isinstance(doc, dict):
        raise BenchError(f"{path}: expected a mapping at the top level")
    keys = {str(k) for k in doc}
    if not keys & set(KindMatrix.model_fields) and "?" in field_path(keys).split("."):
        raise BenchError(f"{path}: not a kind matrix (none of its fields: "
                         f"{', '.join(KindMatrix.model_fields)})")
    try:
        return KindMatrix.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = field_path(err["loc"]) or "(top)"
        raise BenchError(f"{path}: field {field}: {err['msg']}") from None


MAX_MATRIX_BYTES = 100_000
MAX_YAML_DEPTH = 20
MAX_YAML_ALIASES = 50


def _check_yaml_shape(text: str, path: Path) -> None:
    """Refuse YAML alias bombs and deep nesting before building any object."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                line = event.start_mark.line + 1
                raise BenchError(f"{path}:{line}: nested deeper than {MAX_YAML_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                line = event.start_mark.line + 1
                raise BenchError(f"{path}:{line}: more than {MAX_YAML_ALIASES} YAML aliases")


def cluster_config_path() -> Path:
    return Path(str(resources.files("real_bench.kind") / "configs" / "kind-cluster.yaml"))


def cluster_config(m: KindMatrix) -> dict[str, Any]:
    """The repo's kind config, plus Cilium's documented kind setting (no default CNI)."""
    cfg = yaml.safe_load(cluster_config_path().read_text())
    if m.cilium:
        cfg["networking"] = {"disableDefaultCNI": True}
    return cfg


# -- prerequisites ---------------------------------------------------------------------------

VERSION_CMDS: dict[str, list[str]] = {
    "docker": ["docker", "version", "--format", "{{.Server.Version}}"],
    "kind": ["kind", "version"],
    "kubectl": ["kubectl", "version", "--client", "-o", "json"],
    "istioctl": ["istioctl", "version", "--remote=false"],
    "helm": ["helm", "version", "--short"],
}


def required_tools(m: KindMatrix) -> list[str]:
    tools = ["docker", "kind", "kubectl"]
    tools.append("istioctl" if m.install_with == "istioctl" else "helm")
    if m.cilium and "helm" not in tools:
        tools.append("helm")
    return tools


def check_prerequisites(m: KindMatrix) -> tuple[dict[str, str], list[str]]:
    """(versions found, problems). Each problem names the missing tool or setting."""
    versions: dict[str, str] = {}
    problems: list[str] = []
    for tool in required_tools(m):
        if not shutil.which(tool):
            problems.append(f"{tool}: not found on PATH")
            continue
        try:
            proc = subprocess.run(VERSION_CMDS[tool], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            problems.append(f"{tool}: version check failed ({exc})")
            continue
        if proc.returncode != 0:
            what = "daemon not reachable" if tool == "docker" else "version check failed"
            problems.append(f"{tool}: {what}: {proc.stderr.strip()[:120]}")
            continue
        out = proc.stdout.strip()
        if tool == "kubectl":
            with contextlib.suppress(ValueError, KeyError):
                out = json.loads(out)["clientVersion"]["gitVersion"]
        versions[tool] = out.splitlines()[0] if out else "unknown"
    if "istioctl" in versions and m.istio_version not in versions["istioctl"]:
        problems.append(f"istioctl: version {versions['istioctl']!r} does not match "
                        f"istio_version {m.istio_version}")
    for key, need in INOTIFY.items():
        try:
            have = int(Path("/proc/sys/" + key.replace(".", "/")).read_text())
        except OSError:
            continue
        if have < need and os.geteuid() != 0:
            problems.append(f"{key} = {have} < {need} (raise it as root: sysctl -w {key}={need})")
    return versions, problems


# -- execution -------------------------------------------------------------------------------


class Executor:
    """Runs commands and applies manifests, or prints them (dry run). Keeps a log for tests."""

    def __init__(self, dry_run: bool, stream: TextIO) -> None:
        self.dry_run = dry_run
        self.stream = stream
        self.commands: list[list[str]] = []
        self.manifests: list[dict[str, Any]] = []

    def say(self, text: str) -> None:
        self.stream.write(f"# {text}\n")
        self.stream.flush()

    def sh(self, argv: Sequence[str], check: bool = True, input: str | None = None,
           timeout: float | None = 900) -> str:
        argv = [str(a) for a in argv]
        self.commands.append(argv)
        self.stream.write("$ " + " ".join(_quote(a) for a in argv) + "\n")
        self.stream.flush()
        if self.dry_run:
            return ""
        proc = subprocess.run(argv, capture_output=True, text=True, input=input,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise BenchError(f"command failed ({proc.returncode}): {' '.join(argv)}: "
                             f"{proc.stderr.strip()[:400]}")
        return proc.stdout

    def apply(self, kubectl: list[str], docs: list[dict[str, Any]]) -> None:
        text = yaml.safe_dump_all(docs, sort_keys=False)
        self.manifests.extend(docs)
        if self.dry_run:
            self.stream.write("$ " + " ".join(kubectl) + " apply -f - <<'EOF'\n")
            self.stream.write(text + "EOF\n")
            return
        self.sh([*kubectl, "apply", "-f", "-"], input=text)


def _quote(a: str) -> str:
    return a if a and all(c.isalnum() or c in "-_./:=,@%+" for c in a) else repr(a)


def cpu_sets(cores: int, nodes: int) -> list[str] | None:
    """Disjoint CPU sets, one per node container; None when there are fewer cores than nodes."""
    if cores < nodes:
        return None
    per = cores // nodes
    return [f"{i * per}-{i * per + per - 1}" if per > 1 else str(i * per) for i in range(nodes)]


class KindBench:
    def __init__(self, m: KindMatrix, ex: Executor, out_dir: Path) -> None:
        self.m, self.ex, self.out_dir = m, ex, out_dir
        self.ctx = f"kind-{m.cluster_name}"
        self.k = ["kubectl", "--context", self.ctx]
        self.run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.records: list[RunRecord] = []
        self.versions: dict[str, str] = {}
        self.created = False

    # cluster -------------------------------------------------------------------------------
    def prerequisites(self) -> None:
        versions, problems = check_prerequisites(self.m)
        self.versions = versions
        for tool, v in versions.items():
            self.ex.say(f"prerequisite {tool}: {v}")
        if problems:
            msg = "missing prerequisites: " + "; ".join(problems)
            if not self.ex.dry_run:
                raise BenchError(msg)
            self.ex.say(msg + " (dry run: continuing)")
        for key, need in INOTIFY.items():
            self.ex.sh(["sysctl", "-w", f"{key}={need}"])

    def create_cluster(self) -> list[str]:
        m = self.m
        cfg_text = yaml.safe_dump(cluster_config(m), sort_keys=False)
        cfg_path = self.out_dir / "kind-cluster.yaml"
        self.ex.say("kind cluster config (from real_bench/kind/configs/kind-cluster.yaml):")
        self.ex.stream.write(cfg_text)
        if not self.ex.dry_run:
            cfg_path.write_text(cfg_text)
        self.created = True
        self.ex.sh(["kind", "create", "cluster", "--name", m.cluster_name, "--config",
                    str(cfg_path), "--wait", "180s"], timeout=900)
        n_workers = sum(1 for n in cluster_config(m)["nodes"] if n["role"] == "worker")
        workers = [f"{m.cluster_name}-worker"] + [f"{m.cluster_name}-worker{i}"
                                                  for i in range(2, n_workers + 1)]
        if m.pin_cpus:
            nodes = [f"{m.cluster_name}-control-plane", *workers]
            sets = cpu_sets(os.cpu_count() or 1, len(nodes))
            if sets is None:
                self.ex.say(f"only {os.cpu_count()} cores for {len(nodes)} node containers: "
                            "not pinned (nodes share every core; recorded in host notes)")
            else:
                for node, cpus in zip(nodes, sets, strict=True):
                    self.ex.sh(["docker", "update", "--cpuset-cpus", cpus, node])
        return workers

    def install_cilium(self) -> None:
        v = self.m.cilium_version
        self.ex.sh(["helm", "repo", "add", "cilium", CILIUM_HELM_REPO, "--force-update"])
        # Cilium's kind guide (image.pullPolicy, ipam.mode) plus Istio's Cilium notes:
        # cni.exclusive=false lets istio-cni chain; socketLB.hostNamespaceOnly keeps Cilium's
        # socket LB from bypassing ztunnel/sidecar redirection.
        self.ex.sh(["helm", "install", "cilium", "cilium/cilium", "--version", v,
                    "--namespace", "kube-system", "--kube-context", self.ctx,
                    "--set", "image.pullPolicy=IfNotPresent", "--set", "ipam.mode=kubernetes",
                    "--set", "cni.exclusive=false", "--set", "socketLB.hostNamespaceOnly=true",
                    "--wait"])
        self.ex.sh([*self.k, "-n", "kube-system", "rollout", "status", "ds/cilium",
                    "--timeout=300s"])

    def install_istio(self) -> None:
        m = self.m
        if "waypoint" in m.modes:
            self.ex.sh([*self.k, "apply", "--server-side", "-f", GATEWAY_API])
        if m.install_with == "istioctl":
            self.ex.sh(["istioctl", "install", "-y", "--context", self.ctx,
                        "--set", "profile=ambient",
                        "--set", "meshConfig.accessLogFile=",
                        "--set", f"values.global.proxy.resources.requests.cpu={m.proxy_cpu}",
                        "--set",
                        f"values.global.proxy.resources.requests.memory={m.proxy_memory}"],
                       timeout=900)
        else:
            v = m.istio_version
            self.ex.sh(["helm", "repo", "add", "istio", ISTIO_HELM_REPO, "--force-update"])
            common = ["--kube-context", self.ctx, "-n", "istio-system", "--version", v, "--wait"]
            self.ex.sh(["helm", "install", "istio-base", "istio/base", "--create-namespace",
                        *common])
            self.ex.sh(["helm", "install", "istiod", "istio/istiod", *common,
                        "--set", "profile=ambient"])
            self.ex.sh(["helm", "install", "istio-cni", "istio/cni", *common,
                        "--set", "profile=ambient"])
            self.ex.sh(["helm", "install", "ztunnel", "istio/ztunnel", *common])
        self.ex.sh([*self.k, "-n", "istio-system", "rollout", "status", "ds/ztunnel",
                    "--timeout=300s"])

    # one (mode, placement) -----------------------------------------------------------------
    def deploy(self, mode: str, placement: str) -> str:
        m = self.m
        ns = manifests.namespace_name(mode, placement)
        res = {"app_cpu": m.app_cpu, "app_mem": m.app_memory, "proxy_cpu": m.proxy_cpu,
               "proxy_mem": m.proxy_memory}
        self.ex.apply(self.k, manifests.for_point(mode, placement, self.run_id, m.fortio_image,
                                                  res))
        if mode == "waypoint":
            self.ex.sh([*self.k, "-n", ns, "wait", "--for=condition=programmed",
                        f"gateway/{manifests.WAYPOINT_NAME}", "--timeout=300s"])
        for app in (manifests.SERVER_APP, manifests.CLIENT_APP):
            self.ex.sh([*self.k, "-n", ns, "rollout", "status", f"deploy/{app}",
                        "--timeout=300s"])
        return ns

    def fortio_cmd(self, ns: str, qps: float, conns: int, payload: int, seconds: float,
                   label: str | None) -> list[str]:
        url = f"http://{manifests.SERVER_APP}.{ns}:{manifests.FORTIO_PORT}/echo?size={payload}"
        cmd = [*self.k, "-n", ns, "exec", f"deploy/{manifests.CLIENT_APP}", "-c", "fortio",
               "--", "fortio", "load", "-qps", f"{qps:g}", "-c", str(conns),
               "-t", f"{seconds:g}s", *FORTIO_PACING, *FORTIO_STATS]
        cmd += ["-json", "-", "-labels", label] if label else ["-quiet"]
        return [*cmd, url]

    def cadvisor(self, nodes: list[str]) -> dict[metrics.Key, dict[str, float]]:
        snap: dict[metrics.Key, dict[str, float]] = {}
        for node in nodes:
            text = self.ex.sh([*self.k, "get", "--raw",
                               f"/api/v1/nodes/{node}/proxy/metrics/cadvisor"], timeout=60)
            snap.update(metrics.parse_cadvisor(text))
        return snap

    def point(self, ns: str, mode: str, placement: str, qps: float, conns: int,
              payload: int, rep: int, nodes: list[str]) -> None:
        m = self.m
        label = f"{self.run_id}_qps_{qps:g}_c_{conns}_{payload}_{mode}_{placement}_r{rep}"
        self.ex.say(f"point {label}: warm-up {m.warmup_s:g} s (fortio also sends one "
                    "excluded warm-up call per connection)")
        if m.warmup_s:
            self.ex.sh(self.fortio_cmd(ns, qps, conns, payload, m.warmup_s, None),
                       timeout=m.warmup_s + 120)
        before = self.cadvisor(nodes)
        mem: dict[metrics.Key, float] = {}
        stop = threading.Event()
        sampler = None
        if not self.ex.dry_run:
            sampler = threading.Thread(target=self._sample_mem, args=(nodes, mem, stop),
                                       daemon=True)
            sampler.start()
        out = self.ex.sh(self.fortio_cmd(ns, qps, conns, payload, m.duration_s, label),
                         timeout=m.duration_s + 300)
        stop.set()
        after = self.cadvisor(nodes)
        if sampler:
            sampler.join()
        self.ex.say("fortio JSON -> record; CPU = cAdvisor counter delta over the run")
        if self.ex.dry_run:
            return
        raw = self.out_dir / f"{label}.json"
        raw.write_text(out)
        try:
            doc = json.loads(out)
        except json.JSONDecodeError:
            raise BenchError(f"{raw}: fortio did not print JSON") from None
        rec = record_from_fortio(doc, raw, mode=mode, placement=placement)
        pods = self._pods(ns)
        cpu = metrics.cpu_millicores(before, after, rec.duration_s)
        rec.components = self._components(ns, mode, pods, cpu, mem)
        from real_bench.local.procstats import host_facts

        rec.backend = "kind"
        rec.source = "kind"
        rec.run_id = f"kind-{label}"
        rec.repetition = rep
        rec.host = Host(**host_facts(),  # type: ignore[arg-type]
                        notes=["kind: all nodes share one kernel"])
        rec.tool_versions.update(self.versions)
        rec.tool_versions["istio"] = m.istio_version
        self.records.append(rec)
        write_jsonl(self.out_dir / "records.jsonl", self.records)

    def _sample_mem(self, nodes: list[str], mem: dict[metrics.Key, float],
                    stop: threading.Event) -> None:
        while not stop.wait(15):
            with contextlib.suppress(Exception):
                for key, vals in self.cadvisor(nodes).items():
                    if "mem_bytes" in vals:
                        mem[key] = max(mem.get(key, 0.0), vals["mem_bytes"])

    def _pods(self, ns: str) -> dict[tuple[str, str], str]:
        """(namespace, pod) -> node, for the run namespace and istio-system."""
        out: dict[tuple[str, str], str] = {}
        for n in (ns, "istio-system"):
            doc = json.loads(self.ex.sh([*self.k, "-n", n, "get", "pods", "-o", "json"]))
            for item in doc.get("items", []):
                out[(n, item["metadata"]["name"])] = item["spec"].get("nodeName", "")
        return out

    def _components(self, ns: str, mode: str, pods: dict[tuple[str, str], str],
                    cpu: dict[metrics.Key, float], mem: dict[metrics.Key, float]
                    ) -> list[Component]:
        comps = []
        iv = self.m.istio_version
        for key in sorted(cpu, key=lambda k: (k.namespace, k.pod, k.container)):
            node = pods.get((key.namespace, key.pod))
            if node is None:
                continue
            pod, c = key.pod, key.container
            if key.namespace == "istio-system":
                if not pod.startswith("ztunnel") or mode not in ("ambient", "waypoint"):
                    continue
                name, role, prog = f"ztunnel_{node}", "ztunnel", f"ztunnel (Istio {iv})"
            elif pod.startswith(manifests.WAYPOINT_NAME):
                name, role, prog = "waypoint", "waypoint", f"Envoy waypoint (Istio {iv})"
            elif pod.startswith(manifests.CLIENT_APP):
                name, role, prog = (("sidecar_client", "sidecar", f"Envoy sidecar (Istio {iv})")
                                    if c == "istio-proxy" else
                                    ("client_app", "client_app", self.m.fortio_image))
            elif pod.startswith(manifests.SERVER_APP):
                name, role, prog = (("sidecar_server", "sidecar", f"Envoy sidecar (Istio {iv})")
                                    if c == "istio-proxy" else
                                    ("server_app", "server_app", self.m.fortio_image))
            else:
                continue
            mb = mem.get(key)
            comps.append(Component(name=name, role=role, program=prog, node=node,  # type: ignore[arg-type]
                                   cpu_millicores=round(cpu[key], 1),
                                   mem_mib=round(mb / 2**20, 1) if mb else None))
        return comps

    def teardown_ns(self, ns: str) -> None:
        self.ex.sh([*self.k, "delete", "namespace", ns, "--wait=true", "--timeout=300s"],
                   check=False)

    def delete_cluster(self) -> None:
        if self.created and not self.m.keep_cluster:
            self.ex.sh(["kind", "delete", "cluster", "--name", self.m.cluster_name], check=False)
            self.created = False


def _sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def run(m: KindMatrix, dry_run: bool, out_dir: Path, stream: TextIO = sys.stdout) -> KindBench:
    """Execute (or print) the whole plan; the cluster is deleted on errors and signals too."""
    ex = Executor(dry_run, stream)
    if not dry_run:
        out_dir.mkdir(parents=True, exist_ok=True)
        signal.signal(signal.SIGTERM, _sigterm)
    bench = KindBench(m, ex, out_dir)
    bench.prerequisites()
    try:
        workers = bench.create_cluster()
        if m.cilium:
            bench.install_cilium()
        bench.install_istio()
        for rep in range(m.repetitions):
            for mode in m.modes:
                for placement in m.placement:
                    ns = bench.deploy(mode, placement)
                    try:
                        for qps in m.qps:
                            for conns in m.connections:
                                for payload in m.payload_bytes:
                                    bench.point(ns, mode, placement, qps, conns, payload, rep,
                                                workers)
                    finally:
                        bench.teardown_ns(ns)
    finally:
        bench.delete_cluster()
    if not dry_run:
        ex.say(f"{len(bench.records)} records in {out_dir / 'records.jsonl'}")
    return bench
