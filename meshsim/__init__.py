"""meshsim: what a service mesh adds to latency and what it costs, before you roll one out."""

__version__ = "0.1.0"
