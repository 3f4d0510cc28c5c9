"""Local backend: a mesh data path in network namespaces on one Linux machine (no Docker)."""
