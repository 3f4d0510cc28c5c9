"""`real-bench kind MATRIX.yaml`: real Istio on a kind cluster, measured with fortio.

The same code path does the real run and the dry run: every command goes through
:meth:`Executor.sh` and every manifest through :meth:`Executor.apply`, which in dry-run mode
print instead of executing (and return empty output; steps that need real output say so in a
comment). So `--dry-run` shows exactly what a real run would do, in order.

Steps: check prerequisites -> raise inotify limits (only when below need, only as root) ->
create the cluster from ``configs/kind-cluster.yaml`` (>= 3 workers, pinned node image) -> pin
node containers to disjoint CPU sets -> optional Cilium (required by mode ``cilium``, with
WireGuard node-to-node encryption unless ``cilium_encryption: none``) -> Gateway API CRDs
(waypoint) -> Istio (ambient profile: istiod, CNI, ztunnel; sidecar injection still works per
namespace; only when an Istio mode is measured) -> Linkerd (``linkerd install``, when mode
``linkerd`` is measured) -> per (mode, placement): namespace labelled or annotated for the mode
(Linkerd: ``linkerd.io/inject``; Cilium: nothing, its eBPF datapath carries every pod), waypoint,
fortio server + client -> verify
the mode really is in place (sidecars injected, pods enrolled in ambient, waypoint on its node
and carrying the traffic), else refuse -> per point: warm-up, cAdvisor counters, `fortio load
-json`, cAdvisor counters -> record -> delete namespace -> delete cluster.

Safety on a real machine: nothing this run did not create is deleted. An existing cluster of
the same name stops the run before ``kind create``; the cluster counts as ours only once
``kind create`` succeeded; ``--context`` measures on an existing cluster and never deletes or
reconfigures it; a namespace that already exists is never applied to or deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from real_bench.errors import BenchError
from real_bench.files import field_path, read_text
from real_bench.fortio import record_from_fortio
from real_bench.kind import manifests, metrics, verify
from real_bench.record import Component, Host, RunRecord, write_jsonl

INOTIFY = {"fs.inotify.max_user_watches": 524288, "fs.inotify.max_user_instances": 512}
# Istio's support table (istio.io "Supported Releases", from data/compatibility/supportStatus.yml
# in github.com/istio/istio.io, read 2026-11-26): Istio 1.30 (released May 2026, supported) runs
# on Kubernetes 1.32-1.36, 1.29 on 1.31-1.35. 1.30.4 (Aug 27, 2026, istio.io/latest/news/
# releases/1.30.x) is the newest patch found there. Check the table before moving the default.
ISTIO_KUBERNETES = {
    "1.30": ("1.32", "1.33", "1.34", "1.35", "1.36"),
    "1.29": ("1.31", "1.32", "1.33", "1.34", "1.35"),
}
DEFAULT_ISTIO = "1.30.4"
# kind v0.30.0's node image for Kubernetes 1.34.0, pinned by digest as kind's release notes ask.
DEFAULT_NODE_IMAGE = ("kindest/node:v1.34.0@sha256:"
                      "7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a")
# rough wall-clock costs (s) for the estimate --dry-run prints: cluster, Istio, namespace, point
SETUP_S = {"cluster": 120, "cilium": 120, "istio": 150, "linkerd": 120, "namespace": 90,
           "point": 15}
# the Gateway API release istio.io's ambient getting-started installs (v1.4.0 in its 1.28 docs)
GATEWAY_API = ("https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.4.0/"
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
    istio_version: str = DEFAULT_ISTIO
    node_image: str = Field(DEFAULT_NODE_IMAGE,
                            description="kind node image; its Kubernetes version must be one "
                            "the chosen Istio supports")
    waypoint_node: Literal["own", "server", "any"] = Field(
        "own", description="where the waypoint must run: a worker of its own (neither the "
        "client's nor the server's), the server's node, or anywhere; checked before measuring")
    install_with: Literal["istioctl", "helm"] = "istioctl"
    cilium: bool = False
    cilium_version: str = "1.16.5"
    cilium_encryption: Literal["wireguard", "none"] = Field(
        "wireguard", description="Cilium's node-to-node encryption (mode cilium); it applies to "
        "every mode measured on the same cluster")
    linkerd_version: str = Field("edge-25.4.1", description="the linkerd CLI's version")
    modes: list[Literal["none", "sidecar", "ambient", "waypoint", "linkerd", "cilium"]] = Field(
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

    @model_validator(mode="after")
    def _cilium_mode_needs_cilium(self) -> KindMatrix:
        if "cilium" in self.modes and not self.cilium:
            raise ValueError("mode cilium needs cilium: true (Cilium installed as the CNI)")
        return self

    @property
    def istio_modes(self) -> bool:
        """Whether Istio is installed: for its modes, and for a baseline measured beside them
        (as before Linkerd and Cilium were added); not for Linkerd or Cilium alone."""
        return bool(set(self.modes) - {"linkerd", "cilium"})

    @model_validator(mode="after")
    def _supported_kubernetes(self) -> KindMatrix:
        """The node image's Kubernetes must be one the chosen Istio supports (when known)."""
        istio = ".".join(self.istio_version.split(".")[:2])
        k8s = kubernetes_version(self.node_image)
        supported = ISTIO_KUBERNETES.get(istio)
        if supported and k8s and k8s not in supported:
            raise ValueError(f"node_image has Kubernetes {k8s}; Istio {istio} supports "
                             f"{', '.join(supported)}")
        return self


def kubernetes_version(image: str) -> str | None:
    """``1.34`` from ``kindest/node:v1.34.0@sha256:...``, or None."""
    match = re.search(r":v(\d+)\.(\d+)\.\d+", image)
    return f"{match.group(1)}.{match.group(2)}" if match else None


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
        some = ", ".join(("modes", "qps", "connections", "placement", "istio_version"))
        raise BenchError(f"{path}: not a kind matrix (none of its fields, such as {some})")
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
    "linkerd": ["linkerd", "version", "--client", "--short"],
}


def required_tools(m: KindMatrix, existing_cluster: bool = False) -> list[str]:
    if existing_cluster:  # nothing is created or installed: kubectl is all it needs
        return ["kubectl"]
    tools = ["docker", "kind", "kubectl"]
    if m.istio_modes:
        tools.append("istioctl" if m.install_with == "istioctl" else "helm")
    if m.cilium and "helm" not in tools:
        tools.append("helm")
    if "linkerd" in m.modes:
        tools.append("linkerd")
    return tools


def check_prerequisites(m: KindMatrix, existing_cluster: bool = False
                        ) -> tuple[dict[str, str], list[str]]:
    """(versions found, problems). Each problem names the missing tool or setting."""
    versions: dict[str, str] = {}
    problems: list[str] = []
    for tool in required_tools(m, existing_cluster):
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
    if "linkerd" in versions and m.linkerd_version not in versions["linkerd"]:
        problems.append(f"linkerd: version {versions['linkerd']!r} does not match "
                        f"linkerd_version {m.linkerd_version}")
    if "istioctl" in versions and m.istio_version not in versions["istioctl"]:
        problems.append(f"istioctl: version {versions['istioctl']!r} does not match "
                        f"istio_version {m.istio_version}")
    return versions, problems


def read_sysctl(key: str) -> int | None:
    """A kernel setting's current value, or None when it cannot be read."""
    try:
        return int(Path("/proc/sys/" + key.replace(".", "/")).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def expected_seconds(m: KindMatrix, existing_cluster: bool) -> tuple[float, float]:
    """(seconds of load, seconds of setup) a run should take; setup is a rough estimate."""
    n_points = (len(m.modes) * len(m.placement) * len(m.qps) * len(m.connections)
                * len(m.payload_bytes) * m.repetitions)
    load = n_points * (m.warmup_s + m.duration_s)
    setup = (n_points * SETUP_S["point"]
             + m.repetitions * len(m.modes) * len(m.placement) * SETUP_S["namespace"])
    if not existing_cluster:
        setup += SETUP_S["cluster"] + (SETUP_S["istio"] if m.istio_modes else 0)
        setup += (SETUP_S["cilium"] if m.cilium else 0)
        setup += (SETUP_S["linkerd"] if "linkerd" in m.modes else 0)
    return load, setup


# -- execution -------------------------------------------------------------------------------


class Executor:
    """Runs commands and applies manifests, or prints them (dry run). Keeps a log for tests."""

    def __init__(self, dry_run: bool, stream: TextIO) -> None:
        self.dry_run = dry_run
        self.stream = stream
        self.commands: list[list[str]] = []
        self.manifests: list[dict[str, Any]] = []
        self.warnings: list[str] = []

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
        proc = self.run_command(argv, input, timeout)
        if check and proc.returncode != 0:
            raise BenchError(f"command failed ({proc.returncode}): {' '.join(argv)}: "
                             f"{proc.stderr.strip()[:400]}")
        return proc.stdout

    def run_command(self, argv: list[str], input: str | None, timeout: float | None
                    ) -> subprocess.CompletedProcess:
        """The one place a command really runs (a test's fake executor replaces it)."""
        return subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        self.say(f"WARNING: {text}")
        print(f"real-bench: warning: {text}", file=sys.stderr, flush=True)

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
    def __init__(self, m: KindMatrix, ex: Executor, out_dir: Path,
                 context: str | None = None) -> None:
        self.m, self.ex, self.out_dir = m, ex, out_dir
        self.existing = context is not None  # measure on a cluster this run did not create
        self.ctx = context or f"kind-{m.cluster_name}"
        self.k = ["kubectl", "--context", self.ctx]
        self.run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.records: list[RunRecord] = []
        self.versions: dict[str, str] = {}
        self.created = False  # True only once `kind create` has succeeded

    # cluster -------------------------------------------------------------------------------
    def prerequisites(self) -> None:
        versions, problems = check_prerequisites(self.m, self.existing)
        self.versions = versions
        for tool, v in versions.items():
            self.ex.say(f"prerequisite {tool}: {v}")
        if problems:
            msg = "missing prerequisites: " + "; ".join(problems)
            if not self.ex.dry_run:
                raise BenchError(msg)
            self.ex.say(msg + " (dry run: continuing)")
        if not self.existing:
            self.raise_inotify()

    def raise_inotify(self) -> None:
        """kind needs these inotify limits; raise one only when it is below what is needed,
        never lower a higher value, and skip (with a warning) when not root."""
        for key, need in INOTIFY.items():
            have = read_sysctl(key)
            if have is not None and have >= need:
                self.ex.say(f"{key} = {have} >= {need}: left as it is")
            elif os.geteuid() != 0:
                self.ex.warn(f"{key} = {have if have is not None else 'unreadable'} < {need} "
                             f"and not root: not raised; kind may fail with 'too many open "
                             f"files' (as root: sysctl -w {key}={need})")
            else:
                self.ex.sh(["sysctl", "-w", f"{key}={need}"])

    def say_expected_duration(self) -> None:
        load, setup = expected_seconds(self.m, self.existing)
        self.ex.say(f"expected duration: about {(load + setup) / 60:.0f} min "
                    f"({load / 60:.0f} min of load: warm-up {self.m.warmup_s:g} s + run "
                    f"{self.m.duration_s:g} s per point; setup and teardown estimated at "
                    f"{setup / 60:.0f} min)")

    def use_existing_cluster(self) -> list[str]:
        """Measure on ``--context``: nothing cluster-wide is created, changed or deleted, so
        Istio (ambient profile; Gateway API CRDs for waypoints) must already be there, and
        at least two nodes labelled real-bench/role=worker."""
        self.ex.say(f"using the existing cluster of context {self.ctx}: it is never deleted")
        if self.m.istio_modes:
            self.ex.sh([*self.k, "-n", "istio-system", "get", "deploy/istiod", "ds/ztunnel",
                        "-o", "name"])
        if "linkerd" in self.m.modes:
            self.ex.sh(["linkerd", "check", "--context", self.ctx], timeout=300)
        if "cilium" in self.m.modes:
            self.ex.sh([*self.k, "-n", "kube-system", "get", "ds/cilium", "-o", "name"])
        if "waypoint" in self.m.modes:
            self.ex.sh([*self.k, "get", "crd", "gateways.gateway.networking.k8s.io", "-o",
                        "name"])
        key, value = manifests.WORKER_LABEL
        out = self.ex.sh([*self.k, "get", "nodes", "-l", f"{key}={value}", "-o", "name"])
        workers = [line.removeprefix("node/") for line in out.split()]
        need = 3 if "waypoint" in self.m.modes and self.m.waypoint_node == "own" else 2
        if self.ex.dry_run:
            return workers or [f"<node labelled {key}={value}>"]
        if len(workers) < need:
            raise BenchError(f"context {self.ctx}: {len(workers)} nodes labelled {key}={value}; "
                             f"{need} needed (kubectl label node NAME {key}={value})")
        return workers

    def refuse_existing_cluster(self) -> None:
        """Stop before `kind create` if a cluster of this name exists: it is not ours."""
        out = self.ex.sh(["kind", "get", "clusters"])
        if self.m.cluster_name in out.split():
            raise BenchError(f"a kind cluster named {self.m.cluster_name!r} already exists; "
                             f"measure on it with --context kind-{self.m.cluster_name}, or "
                             "delete it yourself first")

    def create_cluster(self) -> list[str]:
        m = self.m
        self.refuse_existing_cluster()
        cfg_text = yaml.safe_dump(cluster_config(m), sort_keys=False)
        cfg_path = self.out_dir / "kind-cluster.yaml"
        self.ex.say("kind cluster config (from real_bench/kind/configs/kind-cluster.yaml):")
        self.ex.stream.write(cfg_text)
        if not self.ex.dry_run:
            cfg_path.write_text(cfg_text)
        # kind removes what a failed create left; a failure here leaves nothing of ours to delete
        self.ex.sh(["kind", "create", "cluster", "--name", m.cluster_name, "--config",
                    str(cfg_path), "--image", m.node_image, "--wait", "180s"], timeout=900)
        self.created = True
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
        # WireGuard between nodes (Cilium docs, encryption-wireguard.rst); same-node traffic is
        # not encrypted, and every mode on this cluster passes it.
        encryption = (["--set", "encryption.enabled=true", "--set", "encryption.type=wireguard"]
                      if self.m.cilium_encryption == "wireguard" else [])
        if encryption and len(self.m.modes) > 1:
            self.ex.say("Cilium WireGuard encrypts node-to-node traffic of every mode measured "
                        "here, not only of mode cilium")
        self.ex.sh(["helm", "repo", "add", "cilium", CILIUM_HELM_REPO, "--force-update"])
        # Cilium's kind guide (image.pullPolicy, ipam.mode) plus Istio's Cilium notes:
        # cni.exclusive=false lets istio-cni chain; socketLB.hostNamespaceOnly keeps Cilium's
        # socket LB from bypassing ztunnel/sidecar redirection.
        self.ex.sh(["helm", "install", "cilium", "cilium/cilium", "--version", v,
                    "--namespace", "kube-system", "--kube-context", self.ctx,
                    "--set", "image.pullPolicy=IfNotPresent", "--set", "ipam.mode=kubernetes",
                    "--set", "cni.exclusive=false", "--set", "socketLB.hostNamespaceOnly=true",
                    *encryption, "--wait"])
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

    def install_linkerd(self) -> None:
        """Linkerd as its getting-started guide installs it: the CLI renders the CRDs, then the
        control plane (with generated trust anchor and issuer), applied with kubectl."""
        crds = self.ex.sh(["linkerd", "install", "--crds", "--context", self.ctx])
        self.ex.sh([*self.k, "apply", "-f", "-"], input=crds)
        control = self.ex.sh(["linkerd", "install", "--context", self.ctx])
        self.ex.sh([*self.k, "apply", "-f", "-"], input=control)
        self.ex.sh(["linkerd", "check", "--context", self.ctx, "--wait", "5m"], timeout=600)

    # one (mode, placement) -----------------------------------------------------------------
    def claim_namespace(self, mode: str, placement: str) -> str:
        """The run's namespace for (mode, placement); refuse if it exists (not ours)."""
        ns = manifests.namespace_name(mode, placement)
        if self.ex.sh([*self.k, "get", "namespace", ns, "--ignore-not-found", "-o",
                       "name"]).strip():
            raise BenchError(f"namespace {ns} already exists in context {self.ctx}: not "
                             "created by this run, so neither used nor deleted; remove it "
                             "yourself to measure")
        return ns

    def deploy(self, mode: str, placement: str) -> str:
        m = self.m
        ns = manifests.namespace_name(mode, placement)
        res = {"app_cpu": m.app_cpu, "app_mem": m.app_memory, "proxy_cpu": m.proxy_cpu,
               "proxy_mem": m.proxy_memory}
        self.ex.apply(self.k, manifests.for_point(mode, placement, self.run_id, m.fortio_image,
                                                  res, m.waypoint_node))
        if mode == "waypoint":
            self.ex.sh([*self.k, "-n", ns, "wait", "--for=condition=programmed",
                        f"gateway/{manifests.WAYPOINT_NAME}", "--timeout=300s"])
        for app in (manifests.SERVER_APP, manifests.CLIENT_APP):
            self.ex.sh([*self.k, "-n", ns, "rollout", "status", f"deploy/{app}",
                        "--timeout=300s"])
        if mode == "waypoint":
            self.ex.sh([*self.k, "-n", ns, "rollout", "status",
                        f"deploy/{manifests.WAYPOINT_NAME}", "--timeout=300s"])
        return ns

    def verify(self, ns: str, mode: str, placement: str) -> None:
        """Refuse to measure unless the data path is the mode's: sidecars injected, pods
        enrolled in ambient, the waypoint on its intended node and carrying the traffic."""
        pods_text = self.ex.sh([*self.k, "-n", ns, "get", "pods", "-o", "json"])
        if mode == "waypoint":  # a few requests, then the waypoint's own counter of them
            url = f"http://{manifests.SERVER_APP}.{ns}:{manifests.FORTIO_PORT}/echo"
            self.ex.sh([*self.k, "-n", ns, "exec", f"deploy/{manifests.CLIENT_APP}", "-c",
                        "fortio", "--", "fortio", "load", "-n", "20", "-qps", "0", "-c", "1",
                        "-quiet", url], timeout=120)
            stats = self.ex.sh([*self.k, "-n", ns, "exec", f"deploy/{manifests.WAYPOINT_NAME}",
                                "-c", "istio-proxy", "--", "pilot-agent", "request", "GET",
                                "stats/prometheus"], timeout=60)
        if self.ex.dry_run:
            self.ex.say(f"verify {mode}/{placement}: measure only if the pods show the mode "
                        "(sidecars / ambient enrolment / waypoint node and traffic)")
            return
        try:
            pods = json.loads(pods_text)
        except json.JSONDecodeError:
            raise BenchError(f"{ns}: kubectl get pods did not print JSON") from None
        problems = verify.pod_problems(mode, placement, self.m.waypoint_node, pods)
        if mode == "waypoint" and verify.waypoint_requests(stats) <= 0:
            problems.append("the waypoint counted no requests to the server: traffic "
                            "bypasses it")
        if problems:
            raise BenchError(f"refusing to measure {mode}/{placement} in {ns}: "
                             + "; ".join(problems))
        self.ex.say(f"verified {mode}/{placement}: the data path is the mode's")

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
        if not cpu:
            self.ex.warn(f"{label}: cAdvisor returned no CPU counters (kubelet metrics "
                         "endpoint empty or unreadable): the record has no CPU per component")
        rec.components = self._components(ns, mode, pods, cpu, mem)
        if cpu and not rec.components:
            self.ex.warn(f"{label}: CPU counters matched none of the run's containers")
        from real_bench.local.procstats import host_facts

        rec.backend = "kind"
        rec.source = "kind"
        rec.run_id = f"kind-{label}"
        rec.repetition = rep
        note = (f"existing cluster (context {self.ctx}): host facts are this machine's, not "
                "the nodes'" if self.existing else "kind: all nodes share one kernel")
        rec.host = Host(**host_facts(), notes=[note])  # type: ignore[arg-type]
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
        for n in (ns, "istio-system", "kube-system"):
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
            if key.namespace == "kube-system":
                if not pod.startswith("cilium-envoy") or mode != "cilium":
                    continue
                name, role, prog = (f"cilium_envoy_{node}", "other",
                                    f"cilium-envoy (Cilium {self.m.cilium_version})")
            elif key.namespace == "istio-system":
                if not pod.startswith("ztunnel") or mode not in ("ambient", "waypoint"):
                    continue
                name, role, prog = f"ztunnel_{node}", "ztunnel", f"ztunnel (Istio {iv})"
            elif pod.startswith(manifests.WAYPOINT_NAME):
                name, role, prog = "waypoint", "waypoint", f"Envoy waypoint (Istio {iv})"
            elif pod.startswith((manifests.CLIENT_APP, manifests.SERVER_APP)):
                side = "client" if pod.startswith(manifests.CLIENT_APP) else "server"
                if c == "istio-proxy":
                    name, role, prog = (f"sidecar_{side}", "sidecar",
                                        f"Envoy sidecar (Istio {iv})")
                elif c == "linkerd-proxy":
                    name, role, prog = (f"sidecar_{side}", "sidecar",
                                        f"linkerd2-proxy (Linkerd {self.m.linkerd_version})")
                else:
                    name, role, prog = f"{side}_app", f"{side}_app", self.m.fortio_image
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
        """Delete the cluster only if this run created it."""
        if self.created and not self.existing and not self.m.keep_cluster:
            self.ex.sh(["kind", "delete", "cluster", "--name", self.m.cluster_name], check=False)
            self.created = False


def _sigterm(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def run(m: KindMatrix, dry_run: bool, out_dir: Path, stream: TextIO = sys.stdout,
        context: str | None = None, executor: Executor | None = None) -> KindBench:
    """Execute (or print) the whole plan. A cluster this run created is deleted on errors and
    signals too; nothing it did not create is ever deleted."""
    ex = executor or Executor(dry_run, stream)
    if not ex.dry_run:
        out_dir.mkdir(parents=True, exist_ok=True)
        signal.signal(signal.SIGTERM, _sigterm)
    bench = KindBench(m, ex, out_dir, context)
    bench.say_expected_duration()
    bench.prerequisites()
    try:
        if bench.existing:
            workers = bench.use_existing_cluster()
        else:
            workers = bench.create_cluster()
            if m.cilium:
                bench.install_cilium()
            if m.istio_modes:
                bench.install_istio()
            if "linkerd" in m.modes:
                bench.install_linkerd()
        for rep in range(m.repetitions):
            for mode in m.modes:
                for placement in m.placement:
                    ns = bench.claim_namespace(mode, placement)
                    try:
                        bench.deploy(mode, placement)
                        bench.verify(ns, mode, placement)
                        for qps in m.qps:
                            for conns in m.connections:
                                for payload in m.payload_bytes:
                                    bench.point(ns, mode, placement, qps, conns, payload, rep,
                                                workers)
                    finally:
                        bench.teardown_ns(ns)
    finally:
        bench.delete_cluster()
    if not ex.dry_run:
        ex.say(f"{len(bench.records)} records in {out_dir / 'records.jsonl'}")
    return bench
