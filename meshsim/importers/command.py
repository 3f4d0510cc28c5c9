"""The ``meshsim import`` subcommand, kept beside the importers so ``cli.py`` only hooks it in."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from meshsim.errors import ScenarioError


def add_parser(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser("import", help="write a scenario from what a cluster already has")
    sources = imp.add_subparsers(dest="source", required=True)
    k8s = sources.add_parser(
        "kubernetes",
        help="from Kubernetes manifests or kubectl get -o yaml output",
        description="Services, workloads and Nodes from the manifests; the call graph from "
        "--traces, else --prometheus, else container environment variables.",
    )
    k8s.add_argument("files", nargs="+", help="YAML files (multi-document, kind: List)")
    k8s.add_argument("--out", required=True, help="the scenario YAML to write")
    k8s.add_argument("--traces", help="Jaeger JSON or OTLP JSON trace export (default: none)")
    k8s.add_argument(
        "--prometheus",
        action="append",
        metavar="FILE",
        help="a saved Prometheus query result with istio_requests_total or "
        "istio_request_duration_milliseconds series (repeatable; default: none)",
    )
    k8s.add_argument("--entry", help="the service the load enters (default: inferred)")
    k8s.add_argument("--name", help="scenario name (default: the --out file's stem)")
    k8s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from meshsim.importers.kubernetes import import_kubernetes, write_scenario

    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise ScenarioError("is a directory", str(out), None, "--out")
    imported = import_kubernetes(
        [Path(f) for f in args.files],
        Path(args.traces) if args.traces else None,
        [Path(p) for p in args.prometheus] if args.prometheus else None,
        args.entry,
        args.name or out.stem,
    )
    for warning in imported.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {write_scenario(imported, out)} ({len(imported.scenario['services'])} services)")
    return 0
