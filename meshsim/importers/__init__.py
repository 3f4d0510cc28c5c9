"""Importers: scenarios from what users already have (Kubernetes manifests, traces, metrics).

``manifests`` reads Kubernetes YAML (bounded, safe loader, located errors); ``callgraph`` holds
the call graph every source produces, and infers one from container environment variables;
``traces`` (Jaeger or OTLP JSON) and ``prometheus`` (Istio's standard metrics) measure one;
``kubernetes`` joins them into a scenario YAML whose comments say what was inferred and what
was defaulted.
"""

from meshsim.importers.kubernetes import import_kubernetes

__all__ = ["import_kubernetes"]
