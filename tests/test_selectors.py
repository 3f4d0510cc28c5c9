"""Selectors are a grammar of our own: they select rows and can run nothing, from a command line
or from a profile someone else wrote."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from measurement_files import TEMPLATE, write_measurements, write_profile

from meshsim import cli, selectors
from meshsim.selectors import SelectorError

TABLE = pd.DataFrame(
    {
        "connections": [1, 16, 64, 16],
        "mode": ["none", "sidecar", "sidecar", "ambient"],
        "requested_qps": [1000.0, 1000.0, None, 250.0],
        "campaign": ["193ff770", "193ff770", "193ff770", "abc"],
        "open_loop": [True, False, True, False],
    }
)


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("connections == 16", [1, 3]),
        ("connections != 16", [0, 2]),
        ("requested_qps != 1000", [2, 3]),  # a missing rate is not 1000
        ("requested_qps >= 1000", [0, 1]),
        ("connections < 16 or connections > 16", [0, 2]),
        ("16 <= connections", [1, 2, 3]),
        ("mode == 'sidecar' and connections in [16, 64]", [1, 2]),
        ('mode == "sidecar" and connections not in (16,)', [2]),
        ("campaign == '193ff770' and connections in (1, 64)", [0, 2]),
        ("not (mode == 'sidecar' or campaign == 'abc')", [0]),
        ("not mode == 'none' and not connections == 64", [1, 3]),
        ("open_loop == true", [0, 2]),
        ("mode in ['ambient', 'none'] or requested_qps < 300", [0, 3]),
        ("connections == 1.6e1", [1, 3]),
        ("connections == -1", []),
    ],
)
def test_selects_the_rows_it_says(text: str, rows: list[int]) -> None:
    assert list(selectors.select(TABLE, text).index) == rows


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("connections === 16", "unexpected"),
        ("connections = 16", "unexpected"),
        ("connections", "expected a comparison"),
        ("connections in 16", "expected '['"),
        ("connections in []", "expected a column name, number or quoted string"),
        ("ghost == 1", "unknown column 'ghost' (columns: connections, mode"),
        ("mode < 3", "cannot compare mode"),
        ("connections == 1e999", "not finite"),
        ("(" * 30 + "connections == 1" + ")" * 30, "nested deeper than"),
        ("not " * 30 + "connections == 1", "nested deeper than"),
        ("connections == 1 or " * 100 + "connections == 2", "longer than"),
        ("mode == 'sidecar", "unexpected"),
        ("", "empty"),
    ],
)
def test_bad_selectors_are_one_line_errors(text: str, needle: str) -> None:
    with pytest.raises(SelectorError) as err:
        selectors.select(TABLE, text)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_selector_is_text_not_a_structure() -> None:
    with pytest.raises(SelectorError, match="a selector is text"):
        selectors.parse({"connections": 16})  # type: ignore[arg-type]


# --- hostile selectors through every entry point ---------------------------------------------

PAYLOADS = [
    "@pd.io.common.os.system('touch {marker}') == 0",
    "@points.to_csv('{marker}')",
    "connections == 16 or @pd.io.common.os.system('touch {marker}') == 0",
    "pd.io.common.os.system('touch {marker}') == 0",
    "__import__('os').system('touch {marker}') == 0",
    "connections.__class__.__init__.__globals__['os'].system('touch {marker}') == 0",
    "`connections`.to_csv('{marker}') == 0",
    "connections == 16 and open('{marker}', 'w')",
    "(lambda: __import__('os').system('touch {marker}'))() == 0",
    "connections in [__import__('os').system('touch {marker}')]",
    "exec('import os; os.system(\"touch {marker}\")')",
    "connections == 16; __import__('os').system('touch {marker}')",
    "connections == 16\n@points.to_csv('{marker}')",
    "mode == '{marker}' or mode.str.len() > 0",
    "@__builtins__['open']('{marker}', 'w')",
]


@pytest.fixture
def no_code(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) every call to what the payloads aim at; the test asserts none."""
    calls: list[str] = []

    def refusing(name: str):  # type: ignore[no-untyped-def]
        def refuse(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"a selector reached {name}")

        return refuse

    monkeypatch.setattr(os, "system", refusing("os.system"))
    monkeypatch.setattr(subprocess, "Popen", refusing("subprocess.Popen"))
    for name in ("query", "eval", "to_csv"):
        monkeypatch.setattr(pd.DataFrame, name, refusing(f"DataFrame.{name}"))
    monkeypatch.setattr(pd, "eval", refusing("pandas.eval"))
    return calls


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _entry_points(tmp_path: Path, payload: str) -> list[tuple[str, list[str], Path]]:
    """(name, argv, out) for every way a selector reaches meshsim."""
    data = [str(p) for p in write_measurements(tmp_path / "data")]
    honest = write_profile(tmp_path / "honest.yaml", fit_on="connections == 16")
    hostile = write_profile(tmp_path / "hostile.yaml", fit_on=payload)
    cal = ["calibrate", *data, "--scenario", str(TEMPLATE), "--quiet"]
    val = ["validate", str(honest), *data, "--quiet"]
    out = tmp_path / "out"
    return [
        ("calibrate --fit-on", [*cal, "--out", str(out / "p.yaml"), "--fit-on", payload], out),
        ("calibrate --holdout", [*cal, "--out", str(out / "p.yaml"), "--holdout", payload], out),
        ("validate --select", [*val, "--out", str(out), "--select", payload], out),
        ("validate --fit-on", [*val, "--out", str(out), "--fit-on", payload], out),
        (
            "validate hostile profile",
            ["validate", str(hostile), *data, "--quiet", "--out", str(out)],
            out,
        ),
    ]


@pytest.mark.parametrize("template", PAYLOADS)
def test_payloads_run_nothing_and_touch_no_file(
    template: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_code: list[str]
) -> None:
    marker = tmp_path / "pwned"
    payload = template.format(marker=marker)
    for name, argv, out in _entry_points(tmp_path, payload):
        before = sorted(tmp_path.rglob("*"))
        code, err = _run(argv, capsys)
        assert code == 2, (name, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (name, err)
        hostile = name == "validate hostile profile"
        where = "hostile.yaml: calibration.fit_on" if hostile else name.split()[-1]
        assert where in err, (name, err)
        assert not marker.exists() and not out.exists(), name
        assert sorted(tmp_path.rglob("*")) == before, name
        assert no_code == [], name


def test_profile_with_python_tags_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_code: list[str]
) -> None:
    marker = tmp_path / "pwned"
    data = [str(p) for p in write_measurements(tmp_path / "data")]
    profile = tmp_path / "tagged.yaml"
    profile.write_text(
        "name: x\nparams: {}\ncalibration:\n"
        f"  template: {TEMPLATE}\n"
        f"  fit_on: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    for argv in (
        ["validate", str(profile), *data, "--quiet", "--out", str(tmp_path / "out")],
        ["check", str(TEMPLATE), "--set", f"mesh.profile={profile}"],
    ):
        code, err = _run(argv, capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "tagged.yaml:5" in err and "Traceback" not in err, err
        assert not marker.exists() and not (tmp_path / "out").exists()
        assert no_code == []


def test_an_honest_recorded_selector_still_marks_the_fitted_points(tmp_path: Path) -> None:
    """What validate does with a recorded fit_on: the same rows as before, by our grammar."""
    from meshsim.measurements import load_measurements, select

    points = load_measurements(write_measurements(tmp_path / "data"))
    chosen = select(points, "connections == 16 and mode == 'sidecar'")
    assert list(chosen["point"]) == ["0badf00d:sidecar-both:c16:q1000"]
