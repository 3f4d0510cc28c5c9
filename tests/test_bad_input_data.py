"""A corpus of malformed data files and flags, run in-process through both command lines.

Every case: exit status 2, exactly one line on stderr naming the file (and line or field where
there is one), no traceback, no echo of the file beyond a short excerpt, nothing left in --out.
The files are written by the tests themselves (see measurement_files.py for the valid ones).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from measurement_files import (
    TEMPLATE,
    fortio_doc,
    istio_tools_row,
    profile_doc,
    write_measurements,
    write_profile,
)

import meshsim.profiles
import real_bench.files
from meshsim import cli as meshsim_cli
from real_bench import cli as bench_cli
from real_bench.fortio import record_from_fortio

SECRET = "SECRETHASH"
SHADOW = f"root:$6${SECRET}$xyz:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
MAX_STDERR = 400  # characters: a file's contents never come back in an error


def _set(doc: dict, path: str, value: Any) -> dict:
    doc = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


_DELETE = object()


def fortio(path: str, value: Any) -> bytes:
    return json.dumps(_set(fortio_doc(), path, value)).encode()


def csv_text(rows: list[dict[str, Any]], extra: str = "") -> bytes:
    header = list(istio_tools_row())
    lines = [",".join(header)]
    lines += [",".join(str(r.get(k, "")) for k in header) for r in rows]
    return ("\n".join(lines) + "\n" + extra).encode()


def jsonl(*docs: Any) -> bytes:
    return "".join(json.dumps(d) + "\n" for d in docs).encode()


def own_record(path: str = "", value: Any = None) -> dict:
    doc = json.loads(record_from_fortio(fortio_doc(), Path("run.json")).model_dump_json())
    return _set(doc, path, value) if path else doc


def alias_bomb() -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 30)]
    return ("\n".join(lines) + "\n").encode()


def published(**changes: Any) -> bytes:
    """The built-in published profile (complete and valid) with top-level changes."""
    doc = {**profile_doc(), **changes}
    doc.pop("calibration") if "calibration" not in changes else None
    return yaml.safe_dump(doc, sort_keys=False).encode()


def _bogus_sidecar() -> dict[str, Any]:
    params = copy.deepcopy(profile_doc()["params"])
    params["sidecar"]["bogus"] = 1
    return params


def deep_yaml(key: str = "a") -> bytes:
    return (f"{key}: " + "[" * 200 + "]" * 200 + "\n").encode()


Content = bytes | Callable[[Path], None] | None  # None: the file does not exist

# (id, file name, content, what stderr must also say)
MEASUREMENT_CASES: list[tuple[str, str, Content, str]] = [
    ("binary", "bad.json", bytes(range(256)) * 4, "NUL byte"),
    ("latin-1", "bad.json", '{"Labels": "caf\u00e9"}'.encode("latin-1"), "not UTF-8"),
    ("nul-on-line-3", "bad.jsonl", b'{"a": 1}\n{"b": 2}\n{"c": \x00}\n', "bad.jsonl:3"),
    ("empty", "bad.json", b"", "empty file"),
    ("blank", "bad.json", b"  \n\n  ", "empty file"),
    ("too-large", "bad.json", b"x" * 30_000, "larger than the limit"),
    ("missing", "bad.json", None, "cannot read"),
    ("directory", "bad.json", lambda p: p.mkdir(), "is a directory"),
    ("json-scalar-list", "bad.json", b"[1, 2]", "bad.json[0]"),
    ("json-nested-deep", "bad.json", b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    ("json-unknown-object", "bad.json", json.dumps({SHADOW: 1}).encode(), "not a fortio"),
    ("shadow-file", "shadow", SHADOW.encode(), "CSV without"),
    ("fortio-count-zero", "bad.json", fortio("DurationHistogram.Count", 0), "Count"),
    ("fortio-bucket-neg", "bad.json", fortio("DurationHistogram.Data.0.Count", -5), "Data.0.Count"),
    ("fortio-bucket-frac", "bad.json", fortio("DurationHistogram.Data.1.Count", 1.5), "Data.1"),
    ("fortio-count-mismatch", "bad.json", fortio("DurationHistogram.Count", 10), "buckets hold"),
    ("fortio-percent-down", "bad.json", fortio("DurationHistogram.Data.1.Percent", 20), "Percent"),
    (
        "fortio-end-before-start",
        "bad.json",
        fortio("DurationHistogram.Data.1.End", 0),
        "Data.1.End",
    ),
    ("fortio-data-text", "bad.json", fortio("DurationHistogram.Data", "x"), "Data"),
    ("fortio-hist-list", "bad.json", fortio("DurationHistogram", [1]), "DurationHistogram"),
    ("fortio-min-nan", "bad.json", fortio("DurationHistogram.Min", float("nan")), "Min"),
    ("fortio-pctl-bad", "bad.json", fortio("DurationHistogram.Percentiles", [7]), "Percentiles.0"),
    ("fortio-qps-neg", "bad.json", fortio("ActualQPS", -1), "field ActualQPS"),
    ("fortio-qps-nan", "bad.json", fortio("ActualQPS", float("nan")), "field ActualQPS"),
    ("fortio-qps-inf", "bad.json", fortio("ActualQPS", float("inf")), "field ActualQPS"),
    ("fortio-qps-text", "bad.json", fortio("ActualQPS", "fast" * 500), "field ActualQPS"),
    ("fortio-qps-bool", "bad.json", fortio("ActualQPS", True), "field ActualQPS"),
    ("fortio-req-text", "bad.json", fortio("RequestedQPS", "lots"), "RequestedQPS"),
    ("fortio-req-nan", "bad.json", fortio("RequestedQPS", float("nan")), "RequestedQPS"),
    ("fortio-req-neg", "bad.json", fortio("RequestedQPS", -5), "RequestedQPS"),
    ("fortio-retcode-neg", "bad.json", fortio("RetCodes", {"200": -3}), "RetCodes.200"),
    ("fortio-no-duration", "bad.json", fortio("ActualDuration", _DELETE), "ActualDuration"),
    ("fortio-duration-zero", "bad.json", fortio("ActualDuration", 0), "ActualDuration"),
    ("fortio-threads-neg", "bad.json", fortio("NumThreads", -4), "NumThreads"),
    ("fortio-label-unknown", "bad.json", fortio("Labels", "z" * 5000), "field Labels"),
    ("csv-extra-field", "bad.csv", csv_text([istio_tools_row()], "1," * 20), ":3"),
    ("csv-missing-field", "bad.csv", csv_text([])[:-1] + b"\n1,2,3\n", "bad.csv:2"),
    ("csv-qps-neg", "bad.csv", csv_text([{**istio_tools_row(), "ActualQPS": -10}]), "ActualQPS"),
    ("csv-qps-nan", "bad.csv", csv_text([{**istio_tools_row(), "ActualQPS": "nan"}]), "ActualQPS"),
    ("csv-header-only", "bad.csv", csv_text([]), "without rows"),
    ("csv-error-pct", "bad.csv", csv_text([{**istio_tools_row(), "errorPercent": 150}]), "errorP"),
    ("csv-p50-inf", "bad.csv", csv_text([{**istio_tools_row(), "p50": "inf"}]), "field p50"),
    ("csv-threads-frac", "bad.csv", csv_text([{**istio_tools_row(), "NumThreads": 2.5}]), "NumTh"),
    (
        "csv-cpu-text",
        "bad.csv",
        csv_text([{**istio_tools_row(), "cpu_mili_avg_fortioserver_deployment_istio_proxy": "?"}]),
        "cpu_mili_avg",
    ),
    (
        "jsonl-p99-neg",
        "bad.jsonl",
        jsonl(istio_tools_row(), {**istio_tools_row(), "p99": -1}),
        ":2",
    ),
    ("jsonl-broken-line", "bad.jsonl", jsonl(istio_tools_row())[:-1] + b"\n{oops\n", ":2"),
    ("fortio-start-number", "bad.json", fortio("StartTime", 5), "field start_time"),
    (
        "jsonl-start-number",
        "bad.jsonl",
        jsonl(istio_tools_row(), {**istio_tools_row(), "StartTime": 5}),
        "bad.jsonl:2: field start_time",
    ),
    ("own-count-neg", "bad.jsonl", jsonl(own_record("latency.count", -1)), "latency.count"),
    ("own-qps-nan", "bad.jsonl", jsonl(own_record("achieved_qps", float("nan"))), "achieved_qps"),
    ("own-req-neg", "bad.jsonl", jsonl(own_record("requested_qps", -5)), "requested_qps"),
    ("own-code-neg", "bad.jsonl", jsonl(own_record("errors.by_code", {"503": -1})), "by_code"),
    ("own-bucket-neg", "bad.jsonl", jsonl(own_record("histogram.0.count", -2)), "histogram.0"),
    ("own-extra-key", "bad.jsonl", jsonl({**own_record(), SHADOW: 1}), "field ?"),
]


def _write(path: Path, content: Content) -> Path:
    if callable(content):
        content(path)
    elif content is not None:
        path.write_bytes(content)
    return path


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The size limits, scaled down so a case over them is a small file (same code path)."""
    monkeypatch.setattr(real_bench.files, "MAX_BYTES", 20_000)
    monkeypatch.setattr(meshsim.profiles, "MAX_BYTES", 20_000)


def _run(
    main: Callable[[list[str]], int], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    return code, capsys.readouterr().err


def _assert_one_line_error(
    code: int, err: str, name: str, needle: str, problems: int = 1
) -> None:
    """Exit 2 and one line per problem (``problems`` at most), each naming the file and short;
    the needle in one of them; never the file's secret."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= problems and err.endswith("\n"), err
    assert all(name in line for line in lines), err
    assert needle in err, err
    assert SECRET not in err and all(len(line) < MAX_STDERR for line in lines), err


def _nothing_in(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), sorted(out.rglob("*"))


@pytest.mark.parametrize("command", ["calibrate", "validate", "real-bench import"])
@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [case[1:] for case in MEASUREMENT_CASES],
    ids=[case[0] for case in MEASUREMENT_CASES],
)
def test_measurement_files(
    command: str,
    name: str,
    content: Content,
    needle: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = [str(p) for p in write_measurements(tmp_path / "good")]
    bad = str(_write(tmp_path / name, content))
    out = tmp_path / "out"
    if command == "calibrate":
        argv = ["calibrate", *good, bad, "--scenario", str(TEMPLATE), "--quiet"]
        code, err = _run(meshsim_cli.main, [*argv, "--out", str(out / "p.yaml")], capsys)
    elif command == "validate":
        profile = write_profile(tmp_path / "fitted.yaml", fit_on="connections == 16")
        argv = ["validate", str(profile), *good, bad, "--quiet", "--out", str(out)]
        code, err = _run(meshsim_cli.main, argv, capsys)
    else:
        argv = ["import", *good, bad, "--out", str(out / "t.csv"), "--jsonl", str(out / "r.jsonl")]
        code, err = _run(bench_cli.main, argv, capsys)
    _assert_one_line_error(code, err, name, needle)
    _nothing_in(out)


# (id, content, needle, also through `meshsim check --set mesh.profile=`)
PROFILE_CASES: list[tuple[str, Content, str, bool]] = [
    ("list", b"- a\n- b\n", "prof.yaml:1: a profile is a YAML mapping, not a list", True),
    ("scalar", b"42\n", "not a int", True),
    ("empty", b"", "not empty", True),
    ("latin-1", "name: caf\u00e9\n".encode("latin-1"), "not UTF-8", True),
    ("nul", b"name: x\nparams: {}\n\x00\n", "prof.yaml:3: binary file (NUL byte)", True),
    ("too-large", b"# " + b"x" * 30_000 + b"\n", "larger than the input limit", True),
    ("alias-bomb", alias_bomb(), "once aliases are expanded", True),
    ("deep", deep_yaml("params"), "nested more than", True),
    ("syntax", b"name: x\nparams: [1, 2\n", "YAML syntax error", True),
    ("python-tag", b"name: x\nparams: {}\nx: !!python/object/apply:os.system [id]\n", ":3", True),
    ("shadow", SHADOW.encode(), "prof.yaml", True),
    ("params-number", b"name: x\nparams: 5\n", "prof.yaml:2: params", True),
    ("params-unknown", published(params=_bogus_sidecar()), "params.sidecar.bogus", True),
    ("calibration-list", published(calibration=[1]), ": calibration: ", True),
    (
        "fit-on-number",
        b"name: x\nparams: {}\ncalibration:\n  fit_on: 5\n",
        ":4: calibration.fit_on",
        False,
    ),
    (
        "template-list",
        b"name: x\nparams: {}\ncalibration:\n  template: [a]\n",
        "calibration.template",
        False,
    ),
    (
        "overrides-number",
        b"name: x\nparams: {}\ncalibration:\n  scenario_overrides: [1]\n",
        ":4: calibration.scenario_overrides.0",
        False,
    ),
    ("no-template", published(), "records no template", False),
    ("directory", lambda p: p.mkdir(), "prof.yaml", True),
]


PROFILE_RUNS = [
    pytest.param(command, content, needle, id=f"{name}-{command}")
    for name, content, needle, in_check in PROFILE_CASES
    for command in ("validate", "check")
    if in_check or command == "validate"  # only validate reads the calibration section
]


@pytest.mark.parametrize(("command", "content", "needle"), PROFILE_RUNS)
def test_profiles(
    command: str,
    content: Content,
    needle: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    profile = str(_write(tmp_path / "prof.yaml", content))
    out = tmp_path / "out"
    if command == "validate":
        good = [str(p) for p in write_measurements(tmp_path / "good")]
        argv = ["validate", profile, *good, "--quiet", "--out", str(out)]
    else:
        argv = ["check", str(TEMPLATE), "--set", f"mesh.profile={profile}"]
    code, err = _run(meshsim_cli.main, argv, capsys)
    # a profile with several problems (a file that is no profile at all) gets one line each
    _assert_one_line_error(code, err, "prof.yaml", needle, problems=4)
    _nothing_in(out)


def _records(content: Content) -> Callable[[Path], None]:
    def make(results: Path) -> None:
        results.mkdir()
        _write(results / "records.jsonl", content)

    return make


REPORT_CASES: list[tuple[str, Content, str]] = [
    ("missing", None, "records.jsonl: cannot read"),
    ("directory", lambda p: p.mkdir(), "is a directory"),
    ("binary", bytes(range(256)), "records.jsonl:1: NUL"),
    ("latin-1", "caf\u00e9".encode("latin-1"), "not UTF-8"),
    ("empty", b"", "no records"),
    ("broken-line", jsonl(own_record())[:-1] + b"\n{oops\n", "records.jsonl:2: not JSON"),
    ("json-list", b"[1]\n", "records.jsonl:1"),
    ("count-neg", jsonl(own_record("latency.count", -1)), ":1: field latency.count"),
    ("qps-nan", jsonl(own_record("achieved_qps", float("nan"))), "field achieved_qps"),
    ("too-large", jsonl(*[own_record()] * 20), "larger than the limit"),
    ("shadow", SHADOW.encode(), "records.jsonl:1"),
]


@pytest.mark.parametrize(
    ("content", "needle"), [c[1:] for c in REPORT_CASES], ids=[c[0] for c in REPORT_CASES]
)
def test_real_bench_report(
    content: Content, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    _write(results / "records.jsonl", content)
    code, err = _run(bench_cli.main, ["report", str(results)], capsys)
    _assert_one_line_error(code, err, "records.jsonl", needle)
    assert [p.name for p in results.iterdir()] in ([], ["records.jsonl"])


KIND_CASES: list[tuple[str, Content, str]] = [
    ("shadow", SHADOW.encode(), "not a kind matrix"),
    ("shadow-and-qps", b"qps: [100]\n" + SHADOW.encode(), "field ?"),
    ("binary", bytes(range(256)), "matrix.yaml:1: NUL"),
    ("latin-1", "modes: [caf\u00e9]\n".encode("latin-1"), "not UTF-8"),
    ("alias-bomb", alias_bomb(), "YAML aliases"),
    ("deep", deep_yaml("qps"), "nested deeper"),
    ("list", b"- qps\n", "mapping"),
    ("too-large", b"# " + b"x" * 200_000 + b"\n", "larger than the limit"),
    ("syntax", b"qps: [1, 2\n", "not valid YAML"),
    ("qps-negative", b"qps: [-1]\n", "field qps"),
    ("missing", None, "cannot read"),
]


@pytest.mark.parametrize(
    ("content", "needle"), [c[1:] for c in KIND_CASES], ids=[c[0] for c in KIND_CASES]
)
def test_real_bench_kind(
    content: Content, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    matrix = str(_write(tmp_path / "matrix.yaml", content))
    out = tmp_path / "out"
    code, err = _run(bench_cli.main, ["kind", matrix, "--dry-run", "--out", str(out)], capsys)
    _assert_one_line_error(code, err, "matrix.yaml", needle)
    _nothing_in(out)


FLAG_CASES: list[tuple[str, list[str], str]] = [
    ("free-inverted", ["--free", "net=network.same_zone_ms:2:1"], "--free: net: bounds"),
    ("free-nan", ["--free", "net=network.same_zone_ms:nan:1"], "--free: net: bounds"),
    ("free-inf", ["--free", "net=network.same_zone_ms:1:inf"], "--free: net: bounds"),
    ("free-zero", ["--free", "net=network.same_zone_ms:0:1"], "0 < LOWER < UPPER"),
    ("free-shape", ["--free", "net=network.same_zone_ms:1"], "--free"),
    ("metric-unknown", ["--metrics", "p50,p42"], "--metrics: unknown metric 'p42'"),
    ("metric-none", ["--metrics", " , "], "--metrics"),
    ("max-evaluations-zero", ["--max-evaluations", "0"], "--max-evaluations"),
    ("max-evaluations-negative", ["--max-evaluations", "-3"], "--max-evaluations"),
    ("duration-nan", ["--duration", "nan"], "--duration"),
    ("duration-negative", ["--duration", "-1"], "--duration"),
    ("duration-inf", ["--duration", "inf"], "--duration"),
    ("duration-huge", ["--duration", "1e308"], "--duration"),
    ("max-evaluations-huge", ["--max-evaluations", "1000000"], "--max-evaluations"),
    ("fit-on-unknown-column", ["--fit-on", "bogus == 1"], "--fit-on: unknown column 'bogus'"),
    ("holdout-syntax", ["--holdout", "connections =="], "--holdout: expected"),
]


@pytest.mark.parametrize(
    ("flags", "needle"), [c[1:] for c in FLAG_CASES], ids=[c[0] for c in FLAG_CASES]
)
def test_calibrate_flags(
    flags: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [str(p) for p in write_measurements(tmp_path / "good")]
    out = tmp_path / "out"
    argv = ["calibrate", *good, "--scenario", str(TEMPLATE), "--out", str(out / "p.yaml")]
    code, err = _run(meshsim_cli.main, [*argv, "--quiet", *flags], capsys)
    _assert_one_line_error(code, err, needle.split(":")[0], needle)
    _nothing_in(out)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--duration", "0"], "--duration"),
        (["--duration", "nan"], "--duration"),
        (["--select", "mode.str.len() > 0"], "--select"),
        (["--fit-on", "ghost in [1]"], "--fit-on: unknown column 'ghost'"),
    ],
)
def test_validate_flags(
    flags: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [str(p) for p in write_measurements(tmp_path / "good")]
    profile = write_profile(tmp_path / "fitted.yaml", fit_on="connections == 16")
    out = tmp_path / "out"
    argv = ["validate", str(profile), *good, "--quiet", "--out", str(out), *flags]
    code, err = _run(meshsim_cli.main, argv, capsys)
    _assert_one_line_error(code, err, needle.split(":")[0], needle)
    _nothing_in(out)


def test_records_with_impossible_numbers_are_never_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that measured nothing imports (it happened) but is not a point to fit on."""
    path = tmp_path / "idle.jsonl"
    path.write_bytes(jsonl({**istio_tools_row(), "ActualQPS": 0}))
    out = tmp_path / "t.csv"
    code, _ = _run(bench_cli.main, ["import", str(path), "--out", str(out)], capsys)
    assert code == 0 and "False" in out.read_text()
    code, err = _run(
        meshsim_cli.main,
        ["calibrate", str(path), "--scenario", str(TEMPLATE), "--out", str(tmp_path / "p.yaml")],
        capsys,
    )
    _assert_one_line_error(code, err, "idle.jsonl", "none valid")


@pytest.mark.parametrize(
    ("achieved", "samples", "errors"),
    [
        (float("nan"), 5000, 0),
        (float("inf"), 5000, 0),
        (-1.0, 5000, 0),
        (1000.0, -1, 0),
        (1000.0, 5000, -1),
    ],
)
def test_judge_never_passes_impossible_numbers(achieved: float, samples: int, errors: int) -> None:
    from real_bench.record import judge

    verdict = judge(None, achieved, samples, errors)  # no requested rate to compare with
    assert not verdict.valid and "impossible" in verdict.reasons[0]
