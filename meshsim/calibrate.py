"""Fitting a profile to measurements by simulation, and saying what the data cannot identify.

The free parameters are numbers in the template scenario or its profile (a parameter may move
several of them together, keeping their ratios). Each is fitted in log space between bounds,
by ``scipy.optimize.least_squares`` on the log-ratios predicted/measured of the chosen metrics.
Every evaluation simulates every point with the same seeds (common random numbers), so the
objective is a deterministic function of the parameters and finite differences see the model,
not noise. After the fit, the Jacobian says how much each parameter moves the residuals: one
that moves nothing, or only together with another, is reported as not identified and left at
its starting value rather than returning noise.

Like a scikit-learn estimator, a ``Calibrator`` stores its settings, and ``fit`` sets the
learned state (``values_``, ``residuals_``, ``sensitivity_``, ...) and returns self.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from meshsim import __version__
from meshsim.errors import ScenarioError
from meshsim.loader import LoadedScenario
from meshsim.measurements import CPU, LATENCY, METRICS, proxy_cpu_metrics, scenario_for
from meshsim.results import Result
from meshsim.simulate import simulate

IDENTIFIED = 0.05  # residual norm moved by a unit change of log(parameter)
COLLINEAR = 0.95
# Numbers whose effect depends on the load (rate or concurrency): at one load level each is
# indistinguishable from a per-message cost, so a fit on one level picks an arbitrary split
# that does not transfer to other loads.
LOAD_DEPENDENT = (
    "wakeup_cpu_us",
    "wakeup_latency_us",
    "idle_after_us",
    "post_response_cpu_us",
    "cpu_cv",
    "workers",
    "concurrency",
)


class _OutOfBudget(Exception):
    """The evaluation budget is spent: the best point seen so far is the answer."""


@dataclass(frozen=True)
class FreeParameter:
    """A number to fit: ``paths`` move together (ratios kept), the first one's value is it."""

    name: str
    paths: tuple[str, ...]
    lower: float
    upper: float
    start: float | None = None  # default: the template's value (or the bounds' midpoint)

    @classmethod
    def parse(cls, text: str) -> FreeParameter:
        """``name=path[+path...]:lower:upper`` as written after ``--free``."""
        try:
            name, rest = text.split("=", 1)
            paths, lower, upper = rest.rsplit(":", 2)
            free = cls(name, tuple(paths.split("+")), float(lower), float(upper))
        except ValueError:
            raise ScenarioError(
                "expected NAME=PATH[+PATH]:LOWER:UPPER", "--free", None, text[:80]
            ) from None
        # fitted in log space: both bounds finite, positive and in order
        if not (math.isfinite(free.lower) and math.isfinite(free.upper)):
            raise ScenarioError("bounds must be finite numbers", "--free", None, name[:80])
        if not 0 < free.lower < free.upper:
            raise ScenarioError(
                f"bounds must satisfy 0 < LOWER < UPPER (got {free.lower:g}:{free.upper:g})",
                "--free",
                None,
                name[:80],
            )
        return free


def locate(loaded: LoadedScenario, path: str) -> tuple[str, float]:
    """The settable path and current value of a number at a dotted path of the scenario
    (``params.*`` reads the resolved profile); a path to a distribution means its mean."""
    parts = path.split(".")
    if parts[0] == "params":
        node: Any = loaded.params.model_dump()
        parts = parts[1:]
    else:
        node = loaded.scenario.model_dump(mode="json")
    for part in parts:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError):
            raise ScenarioError("no such number in the template", "--free", None, path) from None
    if isinstance(node, dict):
        for key in ("mean_ms", "value_ms"):
            if key in node:
                return f"{path}.{key}", float(node[key])
        raise ScenarioError("not a number or a constant/mean distribution", "--free", None, path)
    return path, float(node)


def is_load_dependent(parameter: FreeParameter) -> bool:
    return any(path.split(".")[-1] in LOAD_DEPENDENT for path in parameter.paths)


def load_levels(points: pd.DataFrame) -> list[str]:
    """The distinct loads of some points: requested rate and connection count, lowest first
    (a point that does not say counts as max rate, 0 connections)."""
    levels = set()
    for _, row in points.iterrows():
        qps, conns = row.get("requested_qps", math.nan), row.get("connections", 0)
        levels.add((math.inf if pd.isna(qps) else float(qps), 0 if pd.isna(conns) else int(conns)))
    return [
        f"{'max' if math.isinf(qps) else f'{qps:g}'} rps, {conns} connections"
        for qps, conns in sorted(levels)
    ]


def default_free(
    template: LoadedScenario, points: pd.DataFrame, metrics: tuple[str, ...] = METRICS
) -> list[FreeParameter]:
    """The environment (network, load generator, server) and, for each proxy kind the data
    exercise, its CPU per message, work after the response and wake-up cost. When only CPU is
    fitted, only the CPU of the proxy kinds whose CPU was measured: latency says nothing else."""
    entry = template.scenario.workload.entry
    latency = any(m in LATENCY for m in metrics)
    free = []
    if latency:
        free = [
            FreeParameter("network_ms", ("network.same_zone_ms",), 0.005, 5.0),
            FreeParameter("client_cpu_us", ("workload.client.cpu_per_request_us",), 1.0, 2000.0),
            FreeParameter("server_ms", (f"services.{entry}.service_time",), 0.005, 5.0),
            FreeParameter("wakeup_latency_us", ("cluster.wakeup_latency_us",), 1.0, 2000.0, 30.0),
            FreeParameter("idle_after_us", ("cluster.idle_after_us",), 50.0, 20000.0),
        ]
    modes = set(points["mode"])
    kinds = []
    if "sidecar" in modes:
        kinds.append("sidecar")
    if modes & {"ambient", "waypoint"}:
        kinds.append("ztunnel")
    if "waypoint" in modes:
        kinds.append("waypoint")
    if "linkerd" in modes:
        kinds.append("linkerd")
    if not latency:
        kinds = [
            k
            for k in kinds
            if any(
                m.startswith(f"cpu_{k}") and points.get(m, pd.Series()).notna().any()
                for m in metrics
            )
        ]
    for kind in kinds:
        p = f"params.{kind}"
        free.append(
            FreeParameter(
                f"{kind}_cpu_us", (f"{p}.request_cpu_us", f"{p}.response_cpu_us"), 5.0, 3000.0
            )
        )
        if kind != "ztunnel":
            free.append(
                FreeParameter(f"{kind}_after_us", (f"{p}.post_response_cpu_us",), 1.0, 3000.0)
            )
        free.append(FreeParameter(f"{kind}_wakeup_us", (f"{p}.wakeup_cpu_us",), 1.0, 3000.0))
        if latency:
            free.append(FreeParameter(f"{kind}_cpu_cv", (f"{p}.cpu_cv",), 0.05, 3.0, start=0.5))
    return free


# --- predictions ---------------------------------------------------------------------------


def simulated_metrics(result: Result) -> dict[str, float]:
    """Latency percentiles (ms) and proxy CPU (millicores) in the measurements' terms."""
    lat = result.latency()["ms"]
    res = result.resources()
    out = {q: float(lat[q]) for q in LATENCY}
    table = res.set_index("component")
    out.update(proxy_cpu_metrics(table["vcpu"].to_dict(), table["kind"].to_dict()))
    return out


def residual_table(
    points: pd.DataFrame, predicted: list[dict[str, float]], metrics: tuple[str, ...]
) -> pd.DataFrame:
    """One row per (point, metric) that was measured: predicted, measured, log ratio, error."""
    rows = []
    for (_, point), pred in zip(points.iterrows(), predicted, strict=True):
        for metric in metrics:
            measured = point.get(metric)
            if measured is None or pd.isna(measured) or measured <= 0:
                continue
            value = pred.get(metric, np.nan)
            ok = value is not None and not pd.isna(value) and value > 0
            rows.append(
                {
                    "point": point["point"],
                    "metric": metric,
                    "predicted": value,
                    "measured": float(measured),
                    "log_ratio": math.log(value / measured) if ok else math.log(1e-3),
                    "error_pct": (value / measured - 1) * 100 if ok else -100.0,
                }
            )
    return pd.DataFrame(rows)


# --- the calibrator ----------------------------------------------------------------------


class Calibrator:
    """Simulation-based least squares over free parameters of a template scenario."""

    def __init__(
        self,
        template: LoadedScenario,
        free: list[FreeParameter] | None = None,
        metrics: tuple[str, ...] = ("p50", "p90", *CPU),
        duration_s: float = 4.0,
        replications: int = 1,
        max_evaluations: int = 80,
        progress: Callable[[str], None] | None = None,
        allow_single_load: bool = False,
    ) -> None:
        self.template = template
        self.free = free
        self.metrics = metrics
        self.duration_s = duration_s
        self.replications = replications
        self.max_evaluations = max_evaluations
        self.progress = progress
        self.allow_single_load = allow_single_load

    # the scenario at parameter values -------------------------------------------------

    def _starts(self, free: list[FreeParameter]) -> np.ndarray:
        starts = []
        for f in free:
            value = f.start if f.start is not None else locate(self.template, f.paths[0])[1]
            if not f.lower <= value <= f.upper:
                value = math.sqrt(f.lower * f.upper)
            starts.append(value)
        return np.asarray(starts)

    def _targets(self) -> list[tuple[str, str, float]]:
        """(parameter, settable path, ratio to the parameter's value), read once from the
        template: a parameter moves its paths together and keeps their ratios."""
        targets = []
        for f in self.free_:
            located = [locate(self.template, path) for path in f.paths]
            base = located[0][1]
            for path, own in located:
                targets.append((f.name, path, own / base if base > 0 else 1.0))
        return targets

    def changes(self, values: dict[str, float]) -> list[str]:
        """``path=value`` assignments that set the free parameters to ``values``."""
        return [f"{path}={values[name] * ratio:.6g}" for name, path, ratio in self.targets_]

    def scenario(self, values: dict[str, float]) -> LoadedScenario:
        return self.template.with_changes(*self.changes(values))

    def predict(self, values: dict[str, float], points: pd.DataFrame) -> list[dict[str, float]]:
        loaded = self.scenario(values)
        out = []
        for _, point in points.iterrows():
            sc = scenario_for(loaded, point, self.duration_s, self.replications)
            out.append(simulated_metrics(simulate(sc)))
        return out

    # fitting --------------------------------------------------------------------------

    def fit(self, points: pd.DataFrame) -> Calibrator:
        if points.empty:
            raise ScenarioError("no measured points to fit on (check --fit-on)")
        self.free_ = (
            list(self.free) if self.free else default_free(self.template, points, self.metrics)
        )
        self.load_levels_ = load_levels(points)
        self._refuse_one_load_level()
        self.targets_ = self._targets()
        self.points_ = points.reset_index(drop=True)
        names = [f.name for f in self.free_]
        lower = np.log([f.lower for f in self.free_])
        upper = np.log([f.upper for f in self.free_])
        start = np.clip(np.log(self._starts(self.free_)), lower + 1e-9, upper - 1e-9)
        self.evaluations_ = 0
        budget = self.max_evaluations  # a setting: fit never changes it (scikit-learn)
        best: dict[str, Any] = {"cost": math.inf, "x": start}

        def residuals(x: np.ndarray) -> np.ndarray:
            if self.evaluations_ >= budget:
                raise _OutOfBudget
            self.evaluations_ += 1
            values = dict(zip(names, np.exp(x), strict=True))
            table = residual_table(self.points_, self.predict(values, self.points_), self.metrics)
            r = table["log_ratio"].to_numpy()
            cost = float(np.sum(r**2))
            if cost < best["cost"]:
                best.update(cost=cost, x=x.copy())
            if self.progress:
                self.progress(f"evaluation {self.evaluations_}: cost {cost:.4f}")
            return r

        try:
            solution = least_squares(
                residuals, start, bounds=(lower, upper), diff_step=0.05, x_scale=1.0
            )
            self.status_ = solution.message
        except _OutOfBudget:
            self.status_ = f"stopped at the budget of {self.max_evaluations} evaluations"
        x = best["x"]
        budget += len(names) + 2  # the Jacobian, a check, and the final run
        jac = self._jacobian(residuals, x, lower, upper)
        reset = self._judge(jac, x, names, start)
        if reset.any():
            # A parameter with no effect near the fit goes back to its start only if that
            # changes nothing; otherwise the fit depends on it where it is, and it stays.
            moved = float(np.sum(residuals(np.log(list(self.values_.values()))) ** 2))
            if moved > best["cost"] * 1.01 + 1e-12:
                self.values_ = dict(zip(names, np.exp(x).tolist(), strict=True))
                table = self.sensitivity_
                table.loc[reset, "value"] = np.exp(x[reset])
                table.loc[reset, "note"] = (
                    "no effect near the fitted value, but its start would change the fit: kept "
                    "as fitted; the data do not pin it down"
                )
        predicted = self.predict(self.values_, self.points_)
        self.residuals_ = residual_table(self.points_, predicted, self.metrics)
        self.warnings_ = []
        if 2 * len(names) > len(self.residuals_):
            self.warnings_.append(
                f"{len(names)} free parameters for {len(self.residuals_)} measured values: the "
                "fit can match the data it saw without the parameters meaning anything; fit on "
                "more load points or free fewer parameters before trusting predictions"
            )
        self.cost_ = float(np.sum(self.residuals_["log_ratio"] ** 2) / 2)
        return self

    def _refuse_one_load_level(self) -> None:
        """At one load level a load-dependent number trades off freely against per-message
        costs: the fit matches what it saw and says nothing about other loads."""
        dependent = [f.name for f in self.free_ if is_load_dependent(f)]
        if len(self.load_levels_) >= 2 or not dependent or self.allow_single_load:
            return
        raise ScenarioError(
            f"the fit data have one load level ({self.load_levels_[0]}) but {', '.join(dependent)}"
            " depend on load and cannot be told from per-message costs at one level: fit on two "
            "or more rates or connection counts, free fewer parameters, or pass "
            "--allow-single-load",
            "--fit-on",
        )

    @staticmethod
    def _jacobian(
        fun: Callable[[np.ndarray], np.ndarray],
        x: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        step: float = 0.05,
    ) -> np.ndarray:
        """Forward differences in log space (backward at an upper bound)."""
        base = fun(x)
        columns = []
        for j in range(len(x)):
            h = step if x[j] + step <= upper[j] else -step
            moved = x.copy()
            moved[j] += h
            columns.append((fun(moved) - base) / h)
        return np.column_stack(columns) if columns else np.zeros((len(base), 0))

    def _judge(
        self, jac: np.ndarray, x: np.ndarray, names: list[str], start: np.ndarray
    ) -> np.ndarray:
        """Sensitivity of the residuals to each parameter, and which ones the data identify;
        returns a mask of the parameters reset to their start."""
        sensitivity = np.linalg.norm(jac, axis=0)
        corr = np.zeros((len(names), len(names)))
        moving = np.flatnonzero(sensitivity >= IDENTIFIED)
        if len(moving) > 1:  # correlations of the estimates, among the parameters that matter
            cov = np.linalg.pinv(jac[:, moving].T @ jac[:, moving])
            sd = np.sqrt(np.clip(np.diag(cov), 1e-300, None))
            corr[np.ix_(moving, moving)] = np.clip(cov / np.outer(sd, sd), -1, 1)
        x = x.copy()
        rows = []
        for j, name in enumerate(names):
            partner = ""
            others = [(abs(corr[j, k]), names[k]) for k in range(len(names)) if k != j]
            strongest = max(others, default=(0.0, ""))
            identified = bool(sensitivity[j] >= IDENTIFIED)
            note = "identified"
            if not identified:
                note = "not identified: no fitted metric depends on it; left at its start"
                x[j] = start[j]
            elif strongest[0] > COLLINEAR:
                partner = strongest[1]
                note = f"only its combination with {partner} is identified"
            rows.append(
                {
                    "parameter": name,
                    "start": float(np.exp(start[j])),
                    "value": float(np.exp(x[j])),
                    "sensitivity": float(sensitivity[j]),
                    "identified": identified,
                    "strongest_correlation": float(strongest[0]),
                    "correlated_with": strongest[1] if strongest[0] > 0 else "",
                    "note": note,
                }
            )
        self.sensitivity_ = pd.DataFrame(rows)
        self.values_ = dict(zip(names, np.exp(x).tolist(), strict=True))
        return ~self.sensitivity_["identified"].to_numpy()

    # the result as a profile ----------------------------------------------------------

    def profile(
        self, name: str, template_path: str, measurements: list[str], fit_on: str | None
    ) -> dict[str, Any]:
        """A parameter profile document: the fitted parameters, where each came from, and the
        environment settings (network, load generator, server) fitted alongside."""
        fitted = self.scenario(self.values_)
        params = fitted.params.model_dump()
        env_changes = [c for c in self.changes(self.values_) if not c.startswith("params.")]
        provenance = {
            f"{f.paths[0].removeprefix('params.')}": (
                (f"with {', '.join(f.paths[1:])} (ratios kept), " if len(f.paths) > 1 else "")
                + f"fitted ({'identified' if row.identified else 'NOT identified, start kept'}, "
                f"sensitivity {row.sensitivity:.3f}) to {', '.join(measurements)}"
                f" where {fit_on or 'all points'}"
            )
            for f, row in zip(self.free_, self.sensitivity_.itertuples(), strict=True)
            if f.paths[0].startswith("params.")
        }
        provenance["other"] = f"as in profile {self.template.profile.name}"
        return {
            "name": name,
            "description": (
                f"Fitted by meshsim {__version__} calibrate to {len(self.points_)} measured "
                f"points ({fit_on or 'all'}); template {template_path}."
            ),
            "params": params,
            "provenance": provenance,
            "calibration": {
                "template": template_path,
                "scenario_overrides": env_changes,
                "measurements": measurements,
                "fit_on": fit_on,
                "fitted_points": list(self.points_["point"]),
                "load_levels": self.load_levels_,
                "allow_single_load": self.allow_single_load,
                "metrics": list(self.metrics),
                "duration_s": self.duration_s,
                "seed": self.template.scenario.sim.seed,
                "evaluations": self.evaluations_,
                "cost": self.cost_,
                "status": self.status_,
                "warnings": self.warnings_,
                "parameters": self.sensitivity_.to_dict(orient="records"),
                "residuals": self.residuals_.to_dict(orient="records"),
            },
        }
