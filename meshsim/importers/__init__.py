"""Importers: scenarios from what users already have (Kubernetes manifests, traces, metrics).

``manifests`` reads Kubernetes YAML (bounded, safe loader, located errors); ``callgraph`` holds
the call graph every source produces, and infers one from container environment variables;
``traces`` (Jaeger or OTLP JSON) and ``prometheus`` (Istio's standard metrics) measure one;
``kubernetes`` joins them into a scenario YAML whose comments say what was inferred and what
was defaulted.
"""

from __future__ import annotations

from typing import Any

__all__ = ["import_kubernetes"]


def __getattr__(name: str) -> Any:
    """Lazy, so that ``meshsim --help`` (which hooks in ``importers.command``) stays cheap."""
    if name == "import_kubernetes":
        from meshsim.importers.kubernetes import import_kubernetes

        return import_kubernetes
    raise AttributeError(name)
