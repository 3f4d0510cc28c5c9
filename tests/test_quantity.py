"""Kubernetes quantities in scenarios: ``500m``, ``128Mi``, ``2ms`` beside ``cpu_request_m``."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from conftest import SCENARIOS
from hypothesis import given
from hypothesis import strategies as st

from meshsim import quantity
from meshsim.cli import main
from meshsim.errors import MAX_PROBLEMS, ScenarioError
from meshsim.loader import load_scenario
from meshsim.scenario import Params, Service

ACCEPTED = [
    ("500m", "cpu", Fraction(1, 2)),
    (2, "cpu", Fraction(2)),
    (0.5, "cpu", Fraction(1, 2)),
    ("0.1", "cpu", Fraction(1, 10)),
    ("1e3", "cpu", Fraction(1000)),
    ("5e-1", "cpu", Fraction(1, 2)),
    ("+1", "cpu", Fraction(1)),
    ("100u", "cpu", Fraction(1, 10**4)),
    ("128Mi", "memory", Fraction(128 * 2**20)),
    ("1Gi", "memory", Fraction(2**30)),
    ("512M", "memory", Fraction(512 * 10**6)),
    ("1.5Ki", "memory", Fraction(1536)),
    (".5k", "memory", Fraction(500)),
    ("1E", "memory", Fraction(10**18)),  # exa, not an exponent
    ("2E3", "memory", Fraction(2000)),
    (134217728, "memory", Fraction(134217728)),
    ("2ms", "time", Fraction(1, 500)),
    ("250us", "time", Fraction(1, 4000)),
    ("250µs", "time", Fraction(1, 4000)),
    ("1.5s", "time", Fraction(3, 2)),
    ("1h30m", "time", Fraction(5400)),
    ("1m", "time", Fraction(60)),  # minutes, as Go reads it
    ("0", "time", Fraction(0)),
    (0, "time", Fraction(0)),
]


@pytest.mark.parametrize(("value", "kind", "expected"), ACCEPTED, ids=str)
def test_accepted(value, kind, expected) -> None:
    assert quantity.parse(value, kind) == expected


REFUSED = [
    ("-1", "cpu", "negative"),
    (-0.5, "cpu", "negative"),
    ("1x", "cpu", "not a CPU quantity"),
    ("", "cpu", "not a CPU quantity"),
    (".", "cpu", "not a CPU quantity"),
    ("1 m", "cpu", "not a CPU quantity"),
    ("nan", "cpu", "not a CPU quantity"),
    (float("inf"), "cpu", "finite"),
    (float("nan"), "memory", "finite"),
    (True, "cpu", "not a CPU quantity"),
    (None, "memory", "not a memory quantity"),
    ("1KI", "memory", "not a memory quantity"),
    ("1ki", "memory", "not a memory quantity"),
    ("1Ki ", "memory", "not a memory quantity"),
    ("1mb", "memory", "not a memory quantity"),
    ("1e400", "memory", "exponent"),
    ("9" * 65, "memory", "at most"),
    ("1e30", "cpu", "too large"),
    ("1e3m", "cpu", "not a CPU quantity"),
    ("2", "time", "needs its unit"),
    (2, "time", "needs its unit"),
    ("ms", "time", "not a duration"),
    ("2 ms", "time", "not a duration"),
    ("2sec", "time", "not a duration"),
    ("-2ms", "time", "negative"),
]


@pytest.mark.parametrize(("value", "kind", "words"), REFUSED, ids=str)
def test_refused(value, kind, words) -> None:
    with pytest.raises(ValueError, match=words):
        quantity.parse(value, kind)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["m", "", "k"]))
def test_decimal_suffixes_are_exact(number: int, suffix: str) -> None:
    scale = {"m": Fraction(1, 1000), "": Fraction(1), "k": Fraction(1000)}[suffix]
    assert quantity.parse(f"{number}{suffix}", "cpu") == number * scale


@given(
    st.lists(st.tuples(st.integers(0, 10**4), st.sampled_from(list("hms"))), min_size=1, max_size=8)
)
def test_durations_add_up_like_go(parts: list[tuple[int, str]]) -> None:
    seconds = {"h": 3600, "m": 60, "s": 1}
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert quantity.parse(text, "time") == sum(n * seconds[u] for n, u in parts)


def test_every_unit_field_has_its_quantity_spelling() -> None:
    """The rule is by name: every numeric field ending in a unit takes its stem too."""
    assert quantity.spellings_of(Service) == {
        "cpu_per_request": ("cpu_per_request_ms", "_ms"),
        "request": ("request_kib", "_kib"),
        "response": ("response_kib", "_kib"),
        "cpu_request": ("cpu_request_m", "_m"),
        "memory_request": ("memory_request_mib", "_mib"),
        "memory": ("memory_mib", "_mib"),
    }
    assert quantity.spellings_of(Params.model_fields["sidecar"].annotation)["request_cpu"] == (
        "request_cpu_us",
        "_us",
    )


QUANTITIES = {  # quickstart.yaml, written with quantities: the same scenario
    "memory_gib: 16": "memory: 16Gi",
    "{type: exponential, mean_ms: 2.0}": "{type: exponential, mean: 2ms}",
    "cpu_per_request_ms: 1.0": "cpu_per_request: 1000us",
    "response_kib: 8": "response: 8Ki",
    "duration_s: 6": "duration: 6s",
    "warmup_s: 1": "warmup: 1000ms",
    "{type: exponential, mean_ms: 0.8}": "800us",
    "same_node_ms: 0.005": "same_node_ms: 5us",
}


def test_quantities_load_as_the_same_scenario(tmp_path: Path) -> None:
    text = (SCENARIOS / "quickstart.yaml").read_text()
    for old, new in QUANTITIES.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    text = text.replace("    replicas: 1\n", "    replicas: 1\n    cpu_request: '0.25'\n", 1)
    path = tmp_path / "k8s.yaml"
    path.write_text(text)
    written = load_scenario(path).scenario
    plain = load_scenario(
        SCENARIOS / "quickstart.yaml",
        ["services.db.service_time=0.8", "services.db.cpu_request_m=250"],
    ).scenario
    assert written.model_dump() == plain.model_dump()


def test_cpu_in_cores_is_millicores(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text((SCENARIOS / "quickstart.yaml").read_text())
    loaded = load_scenario(path, ["services.db.cpu_request=0.1", "services.db.memory=512M"])
    db = loaded.scenario.services["db"]
    assert db.cpu_request_m == 100
    assert db.memory_mib == 512e6 / 2**20


def test_set_replaces_the_field_however_the_file_spells_it(tmp_path: Path) -> None:
    text = (SCENARIOS / "quickstart.yaml").read_text().replace("duration_s: 6", "duration: 6s")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert load_scenario(path, ["workload.duration_s=3"]).scenario.workload.duration_s == 3
    loaded = load_scenario(SCENARIOS / "quickstart.yaml", ["workload.duration=2.5s"])
    assert loaded.scenario.workload.duration_s == 2.5
    assert loaded.with_changes("workload.duration=4s").scenario.workload.duration_s == 4


def _bad(tmp_path: Path, *pairs: tuple[str, str]) -> Path:
    text = (SCENARIOS / "quickstart.yaml").read_text()
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


def _line(path: Path, text: str) -> int:
    content = path.read_text()
    return content[: content.index(text)].count("\n") + 1


def test_given_both_ways_names_both(tmp_path: Path) -> None:
    path = _bad(tmp_path, ("duration_s: 6", "duration_s: 6\n  duration: 6s"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == (
        f"{path}:{_line(path, 'duration: 6s')}: workload.duration: "
        "given both as duration and duration_s: give one"
    )


def test_a_bad_quantity_is_located(tmp_path: Path) -> None:
    path = _bad(tmp_path, ("memory_gib: 16", "memory: 16GB"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}:9: cluster.nodes.0.memory: '16GB' is not a")


def test_a_quantity_out_of_the_fields_range_is_located_where_written(tmp_path: Path) -> None:
    path = _bad(tmp_path, ("duration_s: 6", "duration: 0s"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert (error.line, error.field) == (_line(path, "duration: 0s"), "workload.duration")


def test_every_problem_on_its_own_line(tmp_path: Path, capsys) -> None:
    path = _bad(
        tmp_path,
        ("memory_gib: 16", "memory: 16Q"),
        ("cpu_per_request_ms: 1.0", "cpu_per_request: 1"),
        ("seed: 42", "seed: -1"),
    )
    assert main(["check", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"meshsim: error: {path}:9: cluster.nodes.0.memory: '16Q' is not a memory quantity "
        "(e.g. 128Mi, 1Gi or 512M)",
        f"meshsim: error: {path}:{_line(path, 'cpu_per_request: 1')}: "
        "services.backend-a.cpu_per_request: a duration needs its unit, e.g. 2ms, 250us or 1.5s",
        f"meshsim: error: {path}:{_line(path, 'seed: -1')}: sim.seed: "
        "Input should be greater than or equal to 0",
    ]


def test_the_json_schema_accepts_both_spellings(tmp_path: Path) -> None:
    """Editors check scenarios against ``meshsim schema``: every committed scenario, and one
    written with quantities, is valid there; a field given both ways is not."""
    import jsonschema
    import yaml

    from meshsim.loader import json_schema

    schema = json_schema()  # what `meshsim schema` prints
    scenarios = [p for p in SCENARIOS.rglob("*.yaml") if "grid" not in p.read_text()]
    assert len(scenarios) >= 5
    for path in scenarios:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    text = (SCENARIOS / "quickstart.yaml").read_text()
    for old, new in QUANTITIES.items():
        text = text.replace(old, new, 1)
    written = yaml.safe_load(text)
    jsonschema.validate(written, schema)
    written["workload"]["duration_s"] = 6
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(written, schema)


def test_many_problems_are_listed_up_to_a_bound(tmp_path: Path, capsys) -> None:
    services = "".join(f"  s{i}: {{replicas: 0}}\n" for i in range(150))
    path = tmp_path / "many.yaml"
    path.write_text(
        "cluster: {nodes: [{name: n, cores: 4}]}\nservices:\n"
        + services
        + "workload: {entry: s0, generator: {type: open, rate_rps: 10}, requests: 3}\n"
    )
    assert main(["check", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == MAX_PROBLEMS + 1
    first = "services.s0.replicas: Input should be greater than or equal to 1"
    assert lines[0] == f"meshsim: error: {path}:3: {first}"
    assert lines[-1] == f"meshsim: error: {path}: 50 more problems not listed"
