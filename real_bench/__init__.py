"""real_bench: measure the data paths meshsim models with real proxies, in one record format.

Backends: ``kind`` (real Istio on a kind cluster, fortio load) and ``local`` (network namespaces
on one Linux machine, nginx + haproxy/stunnel + wrk). Importers turn fortio and istio/tools
results into the same :class:`real_bench.record.RunRecord`.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
