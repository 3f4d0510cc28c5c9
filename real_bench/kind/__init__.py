"""kind backend: real Istio (sidecar, ambient, waypoint; optionally on Cilium) on a kind cluster,
measured with fortio like istio/tools perf/benchmark."""
