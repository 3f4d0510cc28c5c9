"""Bad input: one line naming file, line and field; exit 2; no traceback; nothing written."""

from __future__ import annotations

import subprocess

import pytest
from conftest import ROOT, SCENARIOS, meshsim_cmd

BASE = (SCENARIOS / "quickstart.yaml").read_text()

# (case, text to replace in quickstart.yaml, replacement, line is checked, expected field):
# the line expected is the first line the replacement changes.
CASES = [
    ("yaml syntax", "  frontend:\n", "  frontend: [\n", None, None),
    (
        "unknown key",
        "    replicas: 2\n    service_time: {type: lognormal",
        "    replica: 2\n    service_time: {type: lognormal",
        True,
        "services.frontend.replica",
    ),
    (
        "wrong type",
        "    replicas: 2\n    service_time: {type: lognormal",
        "    replicas: two\n    service_time: {type: lognormal",
        True,
        "services.frontend.replicas",
    ),
    ("negative rate", "rate_rps: 300", "rate_rps: -5", True, "workload.generator.open.rate_rps"),
    (
        "unknown service",
        "calls: [{service: db}]",
        "calls: [{service: dbx}]",
        True,
        "services.backend-a.calls.0.0.service",
    ),
    (
        "unknown node",
        "  db:\n    replicas: 1\n",
        "  db:\n    replicas: 1\n    nodes: [nowhere]\n",
        True,
        "services.db.nodes.0",
    ),
    (
        "cycle",
        "    concurrency: 8\n",
        "    concurrency: 8\n    calls: [{service: frontend}]\n",
        None,
        "calls",
    ),
    (
        "waypoint for missing service",
        "  profile: istio-1.24-published\n",
        "  profile: istio-1.24-published\n  waypoints: [{name: wp, services: [ghost]}]\n",
        True,
        "mesh.waypoints.0.services.0",
    ),
    (
        "duplicate key",
        "  db:\n    replicas: 1\n",
        "  db:\n    replicas: 1\n    replicas: 2\n",
        True,
        "services.db.replicas",
    ),
    (
        "unknown profile",
        "profile: istio-1.24-published",
        "profile: no-such-profile",
        True,
        "mesh.profile",
    ),
]


@pytest.mark.parametrize(("case", "old", "new", "line", "field"), CASES, ids=[c[0] for c in CASES])
def test_bad_scenario_is_one_clear_line(tmp_path, case, old, new, line, field) -> None:
    assert old in BASE, case
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace(old, new, 1))
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier result")
    proc = subprocess.run(
        [*meshsim_cmd(), "compare", str(bad), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith(f"meshsim: error: {bad}")
    if line:
        changed = BASE.replace(old, new, 1).splitlines()
        first = next(
            i for i, (a, b) in enumerate(zip(BASE.splitlines(), changed, strict=False)) if a != b
        )
        assert f"{bad}:{first + 1}:" in lines[0]
    if field is not None:
        assert field in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "earlier result"
    assert proc.stdout == ""


def test_bad_set_override_names_the_option(tmp_path) -> None:
    proc = subprocess.run(
        [*meshsim_cmd(), "run", str(SCENARIOS / "mm1.yaml"), "--set", "mesh.mode=cilium"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "mesh.mode" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_file(tmp_path) -> None:
    proc = subprocess.run(
        [*meshsim_cmd(), "run", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "nope.yaml" in proc.stderr


def test_unknown_mode_in_compare() -> None:
    proc = subprocess.run(
        [*meshsim_cmd(), "compare", str(SCENARIOS / "mm1.yaml"), "--modes", "sidecar,linkerd"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "linkerd" in proc.stderr


def test_set_on_a_missing_service_is_an_error_not_a_new_service() -> None:
    proc = subprocess.run(
        [
            *meshsim_cmd(),
            "check",
            str(SCENARIOS / "quickstart.yaml"),
            "--set",
            "services.fronted.replicas=3",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "no service 'fronted'" in proc.stderr
