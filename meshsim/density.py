"""How the mesh's cost scales with app pods per node: sidecars (one per pod) against a ztunnel
(one per node), priced from their Kubernetes requests and idle memory. Analytic, from the
profile and the scenario's prices; nothing is simulated. This is the arithmetic behind the
"~75% lower infrastructure cost" claim for shared per-node proxies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pandas as pd

from meshsim.components import proxy_memory_mib, requests_of
from meshsim.domain import MIB_PER_GIB, Kind, Mode

if TYPE_CHECKING:
    from meshsim.loader import LoadedScenario


def mesh_requests_per_node(
    loaded: LoadedScenario, pods_per_node: float
) -> dict[str, tuple[float, float]]:
    """Mesh data-plane requests on one node holding ``pods_per_node`` app pods, per mode:
    (vCPU, GiB). Waypoints and istiod are left out: they do not grow with pods per node."""
    side_m, side_mib = requests_of(loaded.params, Kind.SIDECAR)
    zt_m, zt_mib = requests_of(loaded.params, Kind.ZTUNNEL)
    sidecar = (pods_per_node * side_m / 1000, pods_per_node * side_mib / MIB_PER_GIB)
    ztunnel = (zt_m / 1000, zt_mib / MIB_PER_GIB)
    return {Mode.SIDECAR: sidecar, Mode.AMBIENT: ztunnel}


def priced_usd_hour(loaded: LoadedScenario, vcpu: float, gib: float) -> float:
    cost = loaded.scenario.cost
    return vcpu * cost.usd_per_vcpu_hour + gib * cost.usd_per_gib_hour


def ambient_saving(loaded: LoadedScenario, pods_per_node: float) -> float:
    """Fraction of sidecar-mode data-plane requests (priced) that ambient's ztunnel saves."""
    per = mesh_requests_per_node(loaded, pods_per_node)
    side = priced_usd_hour(loaded, *per["sidecar"])
    amb = priced_usd_hour(loaded, *per["ambient"])
    return 1 - amb / side if side > 0 else math.nan


def pods_per_node_for_saving(loaded: LoadedScenario, saving: float) -> float:
    """Pods per node at which ztunnel's requests cost ``saving`` less than the sidecars'."""
    per_pod = priced_usd_hour(loaded, *mesh_requests_per_node(loaded, 1.0)["sidecar"])
    ztunnel = priced_usd_hour(loaded, *mesh_requests_per_node(loaded, 1.0)["ambient"])
    if per_pod <= 0 or saving >= 1:
        return math.inf
    return ztunnel / (per_pod * (1 - saving))


def sidecar_memory_mib(loaded: LoadedScenario, visible_services: int, connections: float) -> float:
    """Modelled memory of one sidecar that sees ``visible_services`` (components.py)."""
    return proxy_memory_mib(loaded.params.sidecar, visible_services, connections)


def saving_by_density(loaded: LoadedScenario, pods_per_node: Iterable[float]) -> pd.DataFrame:
    """Ambient's saving over sidecars per node, on requests and on idle memory."""
    p, z = loaded.params.sidecar, loaded.params.ztunnel
    hours = loaded.scenario.cost.hours_per_month
    rows = []
    for n in pods_per_node:
        per = mesh_requests_per_node(loaded, n)
        side = priced_usd_hour(loaded, *per["sidecar"]) * hours
        amb = priced_usd_hour(loaded, *per["ambient"]) * hours
        rows.append(
            {
                "pods per node": n,
                "sidecar requests (USD/month/node)": side,
                "ztunnel requests (USD/month/node)": amb,
                "saving on requests (%)": _pct(side, amb),
                "saving on CPU requests (%)": _pct(n * p.cpu_request_m, z.cpu_request_m),
                "saving on memory requests (%)": _pct(
                    n * p.memory_request_mib, z.memory_request_mib
                ),
                "saving on idle memory (%)": _pct(n * p.memory_base_mib, z.memory_base_mib),
            }
        )
    return pd.DataFrame(rows)


def _pct(sidecar: float, ambient: float) -> float:
    return (1 - ambient / sidecar) * 100 if sidecar > 0 else math.nan
