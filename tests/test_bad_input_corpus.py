"""A corpus of malformed inputs, generated here, run in-process through ``meshsim.cli.main``.

Every case must end the same way: exit status 2, exactly one line on stderr starting with
``meshsim: error:`` (one line per problem where a case has several), no traceback, the file,
line and field where they apply, and the ``--out`` folder exactly as it was (its earlier file
kept, nothing added, no temporary folder left beside it). Classes: unreadable files, YAML
bombs and depth, non-finite numbers, strict types, quantities, SLOs, call-graph depth,
unbounded work, flags, ``--out`` targets, sweep files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import SCENARIOS

from meshsim.cli import main
from meshsim.scenario import MAX_CALL_DEPTH

BASE = (SCENARIOS / "quickstart.yaml").read_text()


@dataclass(frozen=True)
class Expect:
    """What the one error line must name; ``file`` may be '{scenario}', '{sweep}', '{out}'."""

    file: str | None = "{scenario}"
    line: int | None = None
    field: str | None = None
    words: str | None = None  # a phrase the message must contain
    exempt: tuple[str, ...] = ()  # commands the case does not apply to (see SCENARIO_PARAMS)
    problems: int = 1  # lines on stderr: one per problem


def replaced(old: str, new: str) -> Callable[[Path], bytes]:
    """quickstart.yaml with the first ``old`` replaced (which must be there)."""
    assert old in BASE, old
    return lambda tmp: BASE.replace(old, new, 1).encode()


def replaced_all(*pairs: tuple[str, str]) -> Callable[[Path], bytes]:
    """quickstart.yaml with several replacements."""
    text = BASE
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return lambda tmp: text.encode()


def line_of(text: str) -> int:
    """1-based line of the first occurrence of ``text`` in quickstart.yaml after a case's
    replacement (the replacement keeps line numbers up to it)."""
    return BASE[: BASE.index(text)].count("\n") + 1


def chain(depth: int) -> Callable[[Path], bytes]:
    """A call graph ``depth`` services deep."""

    def make(tmp: Path) -> bytes:
        services = "".join(
            f"  s{i}: {{calls: [{{service: s{i + 1}}}]}}\n" for i in range(depth - 1)
        )
        services += f"  s{depth - 1}: {{}}\n"
        return (
            "cluster: {nodes: [{name: n, cores: 4}]}\nservices:\n"
            + services
            + "workload: {entry: s0, generator: {type: open, rate_rps: 10}, requests: 3}\n"
        ).encode()

    return make


def alias_bomb(tmp: Path) -> bytes:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return ("\n".join(lines) + "\n").encode()


def many_aliases(tmp: Path) -> bytes:
    return ("x: &x 1\nlist: [" + ",".join(["*x"] * 2000) + "]\n").encode()


def deep_flow(tmp: Path) -> bytes:
    return ("name: " + "[" * 20000 + "]" * 20000 + "\n").encode()


def deep_block(tmp: Path) -> bytes:
    return "".join(f"{'  ' * i}k{i}:\n" for i in range(200)).encode()


def huge_file(tmp: Path) -> bytes:
    return BASE.encode() + b"# " + b"x" * (5 * 1024 * 1024) + b"\n"


def million_services(tmp: Path) -> bytes:
    many = "".join(f"  m{i}: {{}}\n" for i in range(1_000_000))
    return BASE.replace("services:\n", "services:\n" + many).encode()


def insert_bytes(line: int, data: bytes) -> Callable[[Path], bytes]:
    def make(tmp: Path) -> bytes:
        lines = BASE.encode().split(b"\n")
        lines[line - 1] = lines[line - 1] + data
        return b"\n".join(lines)

    return make


# (id, scenario bytes, Expect): each one is run through run, compare, check, capacity, report
# and sweep.
SCENARIO_CASES: list[tuple[str, Callable[[Path], bytes], Expect]] = [
    ("not-utf8", insert_bytes(5, b" \xff\xfe"), Expect(line=5, words="UTF-8")),
    ("nul-byte", insert_bytes(9, b"\x00"), Expect(line=9, words="NUL")),
    ("control-char", insert_bytes(7, b"\x07"), Expect(line=7, words="character")),
    ("deep-flow-nesting", deep_flow, Expect(line=1, words="nested")),
    ("deep-block-nesting", deep_block, Expect(words="nested")),
    ("alias-bomb", alias_bomb, Expect(words="aliases are expanded")),
    ("too-many-aliases", many_aliases, Expect(line=2, words="aliases")),
    ("huge-file", huge_file, Expect(words="input limit of")),
    ("million-services", million_services, Expect(words="input limit of")),
    ("empty-file", lambda tmp: b"", Expect(line=1, words="mapping")),
    ("a-list", lambda tmp: b"- 1\n- 2\n", Expect(line=1, words="mapping")),
    (
        "python-tag",
        replaced("name: quickstart", "name: !!python/object/apply:os.system [id]"),
        Expect(line=line_of("name: quickstart"), words="constructor"),
    ),
    ("yaml-syntax", replaced("  frontend:\n", "  frontend: [\n"), Expect(words="YAML")),
    (
        "duplicate-key",
        replaced("  db:\n    replicas: 1\n", "  db:\n    replicas: 1\n    replicas: 2\n"),
        Expect(line=line_of("  db:\n") + 2, field="services.db.replicas", words="duplicate"),
    ),
    (
        "unknown-key",
        replaced(
            "    replicas: 2\n    service_time: {type: lognormal",
            "    replica: 2\n    service_time: {type: lognormal",
        ),
        Expect(line=line_of("    replicas: 2"), field="services.frontend.replica"),
    ),
    (
        "replicas-true",
        replaced("  frontend:\n    replicas: 2", "  frontend:\n    replicas: true"),
        Expect(line=line_of("  frontend:\n") + 1, field="services.frontend.replicas"),
    ),
    (
        "replicas-fraction",
        replaced("  frontend:\n    replicas: 2", "  frontend:\n    replicas: 2.7"),
        Expect(line=line_of("  frontend:\n") + 1, field="services.frontend.replicas"),
    ),
    (
        "replicas-string",
        replaced("  frontend:\n    replicas: 2", "  frontend:\n    replicas: '2'"),
        Expect(line=line_of("  frontend:\n") + 1, field="services.frontend.replicas"),
    ),
    (
        "cores-string",
        replaced("cores: 4", "cores: '4'"),
        Expect(line=line_of("cores: 4"), field="cluster.nodes.0.cores"),
    ),
    (
        "replications-fraction",
        replaced("replications: 3}", "replications: 2.7}"),
        Expect(line=line_of("replications: 3}"), field="sim.replications"),
    ),
    (
        "replications-true",
        replaced("replications: 3}", "replications: true}"),
        Expect(line=line_of("replications: 3}"), field="sim.replications"),
    ),
    (
        "seed-negative",
        replaced("seed: 42", "seed: -1"),
        Expect(line=line_of("seed: 42"), field="sim.seed"),
    ),
    (
        "service-time-inf",
        replaced("{type: exponential, mean_ms: 2.0}", "{type: exponential, mean_ms: .inf}"),
        Expect(
            line=line_of("{type: exponential, mean_ms: 2.0}"),
            field="services.backend-a.service_time",
        ),
    ),
    (
        "service-time-nan",
        replaced("{type: exponential, mean_ms: 0.8}", "{type: exponential, mean_ms: .nan}"),
        Expect(line=line_of("{type: exponential, mean_ms: 0.8}"), field="services.db.service_time"),
    ),
    (
        "constant-inf",
        replaced("{type: exponential, mean_ms: 0.8}", ".inf"),
        Expect(line=line_of("{type: exponential, mean_ms: 0.8}"), field="services.db.service_time"),
    ),
    (
        "lognormal-cv-inf",
        replaced("mean_ms: 1.5, cv: 1.0", "mean_ms: 1.5, cv: .inf"),
        Expect(line=line_of("mean_ms: 1.5, cv: 1.0"), field="services.backend-b.service_time"),
    ),
    (
        "lognormal-cv-nan",
        replaced("mean_ms: 1.5, cv: 1.0", "mean_ms: 1.5, cv: .nan"),
        Expect(line=line_of("mean_ms: 1.5, cv: 1.0"), field="services.backend-b.service_time"),
    ),
    (
        "empirical-nan-count",
        replaced(
            "{type: exponential, mean_ms: 0.8}",
            "{type: empirical, edges_ms: [0, 1, 2], counts: [1, .nan]}",
        ),
        Expect(line=line_of("{type: exponential, mean_ms: 0.8}"), field="services.db.service_time"),
    ),
    (
        "empirical-inf-count",
        replaced(
            "{type: exponential, mean_ms: 0.8}",
            "{type: empirical, edges_ms: [0, 1, 2], counts: [1, .inf]}",
        ),
        Expect(line=line_of("{type: exponential, mean_ms: 0.8}"), field="services.db.service_time"),
    ),
    (
        "empirical-inf-edge",
        replaced(
            "{type: exponential, mean_ms: 0.8}",
            "{type: empirical, edges_ms: [0, 1, .inf], counts: [1, 1]}",
        ),
        Expect(line=line_of("{type: exponential, mean_ms: 0.8}"), field="services.db.service_time"),
    ),
    (
        "empirical-huge-counts",
        replaced(
            "{type: exponential, mean_ms: 0.8}",
            "{type: empirical, edges_ms: [0, 1, 2], counts: [1e308, 1e308]}",
        ),
        Expect(line=line_of("{type: exponential, mean_ms: 0.8}"), field="services.db.service_time"),
    ),
    (
        "rate-inf",
        replaced("rate_rps: 300", "rate_rps: .inf"),
        Expect(line=line_of("rate_rps: 300"), field="workload.generator"),
    ),
    (
        "rate-nan",
        replaced("rate_rps: 300", "rate_rps: .nan"),
        Expect(line=line_of("rate_rps: 300"), field="workload.generator"),
    ),
    (
        "bandwidth-inf",
        replaced("bandwidth_gbps: 10", "bandwidth_gbps: .inf"),
        Expect(line=line_of("bandwidth_gbps: 10"), field="network.bandwidth_gbps"),
    ),
    (
        "probability-nan",
        replaced("{service: db, probability: 0.5}", "{service: db, probability: .nan}"),
        Expect(line=line_of("{service: db, probability: 0.5}"), field="services.backend-b.calls"),
    ),
    (
        "slo-unreadable",
        replaced("slo: p99<=20ms", "slo: fast"),
        Expect(line=line_of("slo: p99<=20ms"), field="cost.slo", words="SLO"),
    ),
    (
        "slo-infinite",
        replaced("slo: p99<=20ms", "slo: p99<=1e999ms"),
        Expect(line=line_of("slo: p99<=20ms"), field="cost.slo", words="finite"),
    ),
    (
        "slo-zero",
        replaced("slo: p99<=20ms", "slo: p99<=0ms"),
        Expect(line=line_of("slo: p99<=20ms"), field="cost.slo"),
    ),
    (
        "cycle",
        replaced("    concurrency: 8\n", "    concurrency: 8\n    calls: [{service: frontend}]\n"),
        Expect(field="calls", words="cyclic"),
    ),
    (
        "call-graph-too-deep",
        chain(MAX_CALL_DEPTH + 1),
        Expect(line=3, field="services.s0.calls", words="deep"),
    ),
    (
        "nodes-1e9",
        replaced("count: 3", "count: 1000000000"),
        Expect(field="cluster.nodes", words="nodes"),
    ),
    (
        "replicas-1e6",
        replaced("  db:\n    replicas: 1", "  db:\n    replicas: 1000000"),
        Expect(words="--max-components"),
    ),
    (
        "duration-1e308",
        replaced("duration_s: 6", "duration_s: 1e308"),
        Expect(words="--max-events", exempt=("capacity",)),
    ),
    (
        "requests-1e12",
        replaced("duration_s: 6", "requests: 1000000000000"),
        Expect(words="--max-events", exempt=("capacity",)),
    ),
    (  # few requests, but so far apart that the run's watchdog ticks for ever
        "tiny-rate-requests",
        replaced_all(("duration_s: 6", "requests: 10"), ("rate_rps: 300", "rate_rps: 1.0e-9")),
        Expect(words="--max-events", exempt=("capacity",)),
    ),
    (
        "replications-1e6",
        replaced("replications: 3}", "replications: 1000000}"),
        Expect(words="--max-events", exempt=("capacity", "sweep")),
    ),
    (
        "cpu-quantity-unreadable",
        replaced("  db:\n    replicas: 1\n", "  db:\n    replicas: 1\n    cpu_request: 1 core\n"),
        Expect(line=line_of("  db:\n") + 2, field="services.db.cpu_request", words="500m"),
    ),
    (
        "duration-both-ways",
        replaced("duration_s: 6", "duration_s: 6\n  duration: 1e308s"),
        Expect(line=line_of("duration_s: 6") + 1, field="workload.duration", words="give one"),
    ),
    (
        "memory-quantity-infinite",
        replaced("memory_gib: 16", "memory: 1e999Gi"),
        Expect(line=line_of("memory_gib: 16"), field="cluster.nodes.0.memory"),
    ),
    (
        "three-problems",
        replaced_all(
            ("  frontend:\n    replicas: 2", "  frontend:\n    replicas: true"),
            ("seed: 42", "seed: -1"),
            ("memory_gib: 16", "memory: 16G0"),
        ),
        Expect(line=line_of("memory_gib: 16"), field="cluster.nodes.0.memory", problems=3),
    ),
    (
        "unknown-profile",
        replaced("profile: istio-1.24-published", "profile: no-such-profile"),
        Expect(line=line_of("profile: istio-1.24-published"), field="mesh.profile"),
    ),
]

COMMANDS = ["run", "compare", "check", "capacity", "report", "sweep"]


def argv_for(command: str, scenario: Path, out: Path) -> list[str]:
    extra = {
        "run": ["--out", str(out)],
        "compare": ["--out", str(out)],
        "check": [],
        "capacity": ["--out", str(out)],
        "report": ["--out", str(out)],
        "sweep": ["--grid", "mesh.mode=none,sidecar", "--out", str(out)],
    }[command]
    return [command, str(scenario), "--quiet", *extra]


@dataclass
class Outcome:
    code: int
    lines: list[str]
    out: str


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Outcome:
    code = main(argv)
    captured = capsys.readouterr()
    return Outcome(code, captured.err.splitlines(), captured.out)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An --out folder that already holds an earlier result, which must survive."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("earlier result")
    return folder


def assert_contract(result: Outcome, expect: Expect, names: dict[str, str], out: Path) -> None:
    assert result.code == 2, result.lines
    assert len(result.lines) == expect.problems, result.lines
    for line in result.lines:
        assert line.startswith("meshsim: error: "), line
        assert "Traceback" not in line and len(line) < 700
    line = result.lines[0]
    if expect.file is not None:
        file = expect.file.format(**names)
        where = f"{file}:{expect.line}:" if expect.line else file
        assert where in line, (where, line)
    if expect.field is not None:
        assert expect.field in line, (expect.field, line)
    if expect.words is not None:
        assert expect.words in line, (expect.words, line)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"], list(out.iterdir())
    assert (out / "keep.txt").read_text() == "earlier result"
    assert not [p for p in out.parent.iterdir() if ".partial-" in p.name or "probe" in p.name]


# Exempt: capacity simulates short points of --requests-per-point, so the workload's length
# and replications do not set its work (its flags do, below); a sweep runs one replication per
# task, so sim.replications does not set its work (its --replications and grid do, below).
SCENARIO_PARAMS = [
    pytest.param(command, make, expect, id=f"{command}-{case}")
    for case, make, expect in SCENARIO_CASES
    for command in COMMANDS
    if command not in expect.exempt
]


@pytest.mark.parametrize(("command", "make", "expect"), SCENARIO_PARAMS)
def test_bad_scenario(command, make, expect, tmp_path, out, capsys) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_bytes(make(tmp_path))
    result = run_cli(argv_for(command, scenario, out), capsys)
    assert_contract(result, expect, {"scenario": str(scenario)}, out)


# --- flags ---------------------------------------------------------------------------------

QUICKSTART = str(SCENARIOS / "quickstart.yaml")

# (id, command, extra arguments, phrase the line must contain)
FLAG_CASES: list[tuple[str, str, list[str], str]] = [
    ("target-rps-nan", "capacity", ["--target-rps", "nan"], "--target-rps"),
    ("target-rps-negative", "capacity", ["--target-rps", "-5"], "--target-rps"),
    ("target-rps-inf", "capacity", ["--target-rps", "inf"], "--target-rps"),
    ("tolerance-nan", "capacity", ["--tolerance", "nan"], "--tolerance"),
    ("tolerance-negative", "capacity", ["--tolerance", "-0.1"], "--tolerance"),
    ("tolerance-over-1", "report", ["--tolerance", "3"], "--tolerance"),
    ("requests-per-point-0", "capacity", ["--requests-per-point", "0"], "--requests-per-point"),
    ("requests-per-point-text", "report", ["--requests-per-point", "many"], "--requests-per-point"),
    (
        "requests-per-point-huge",
        "capacity",
        ["--requests-per-point", "10000000000"],
        "--max-events",
    ),
    ("slo-infinite", "capacity", ["--slo", "p99<=1e999ms"], "--slo"),
    ("slo-unreadable", "report", ["--slo", "p99 under 10"], "--slo"),
    ("slo-zero", "capacity", ["--slo", "p99<=0us"], "--slo"),
    ("modes-unknown", "compare", ["--modes", "none,kuma"], "--modes"),
    ("modes-empty", "capacity", ["--modes", ","], "--modes"),
    ("seed-negative", "run", ["--seed", "-1"], "--seed"),
    ("replications-zero", "run", ["--replications", "0"], "--replications"),
    ("replications-fraction", "compare", ["--replications", "2.7"], "--replications"),
    ("replications-two", "sweep", ["--replications", "two"], "--replications"),
    ("workers-zero", "sweep", ["--workers", "0"], "--workers"),
    ("max-events-nan", "run", ["--max-events", "nan"], "--max-events"),
    ("max-components-negative", "compare", ["--max-components", "-1"], "--max-components"),
    ("max-tasks-zero", "sweep", ["--max-tasks", "0"], "--max-tasks"),
    ("max-events-tiny", "report", ["--max-events", "10"], "--max-events"),
    ("max-components-tiny", "capacity", ["--max-components", "3"], "--max-components"),
    ("unknown-flag", "run", ["--frobnicate"], "unrecognized arguments"),
    ("set-broken-yaml", "run", ["--set", "workload.duration_s=[1,"], "--set"),
    ("set-broken-yaml-compare", "compare", ["--set", "mesh.mode={"], "--set"),
    ("set-no-equals", "check", ["--set", "workload.duration_s"], "--set"),
    ("set-unknown-service", "capacity", ["--set", "services.nope.replicas=2"], "--set"),
    (
        "set-inf",
        "report",
        ["--set", "workload.generator.rate_rps=.inf"],
        "--set: workload.generator.open.rate_rps",
    ),
    (
        "set-bool-replicas",
        "sweep",
        ["--set", "services.db.replicas=true"],
        "--set: services.db.replicas",
    ),
    ("also-profile-missing", "report", ["--also-profile", "no-such-profile"], "--also-profile"),
    (
        "grid-huge",
        "sweep",
        [
            "--grid",
            "sim.seed=" + ",".join(map(str, range(1000))),
            "--grid",
            "workload.generator.rate_rps=" + ",".join(str(100 + i) for i in range(1000)),
        ],
        "--max-tasks",
    ),
    ("grid-broken-yaml", "sweep", ["--grid", "mesh.mode=[none"], "--grid"),
    ("grid-inf", "sweep", ["--grid", "workload.generator.rate_rps=100,.inf"], "--grid"),
    ("grid-fraction", "sweep", ["--grid", "services.db.replicas=1,2.5"], "--grid"),
    ("executor-unknown", "sweep", ["--executor", "threads"], "--executor"),
]


@pytest.mark.parametrize(
    ("command", "extra", "words"),
    [pytest.param(c, e, w, id=i) for i, c, e, w in FLAG_CASES],
)
def test_bad_flag(command, extra, words, out, capsys) -> None:
    argv = argv_for(command, Path(QUICKSTART), out) + extra
    if command == "sweep" and any(a == "--grid" for a in extra):
        argv = [command, QUICKSTART, "--quiet", "--out", str(out), *extra]
    result = run_cli(argv, capsys)
    assert_contract(result, Expect(file=None, words=words), {}, out)


def test_missing_required_option_is_one_line(capsys) -> None:
    result = run_cli(["report", QUICKSTART], capsys)
    assert result.code == 2 and len(result.lines) == 1, result.lines
    assert "--out" in result.lines[0]


# --- --out targets -------------------------------------------------------------------------

OUT_COMMANDS = ["run", "compare", "capacity", "report", "sweep"]


def _target(kind: str, tmp: Path) -> Path:
    if kind == "existing-file":
        target = tmp / "results.txt"
        target.write_text("not a folder")
        return target
    if kind == "null-device":
        return Path(os.devnull)
    if kind == "under-a-file":
        (tmp / "plain").write_text("a file")
        return tmp / "plain" / "out"
    if kind == "in-proc":
        return Path("/proc/self/meshsim-out")
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["existing-file", "null-device", "under-a-file", "in-proc"])
@pytest.mark.parametrize("command", OUT_COMMANDS)
def test_unusable_out(command, kind, tmp_path, capsys) -> None:
    target = _target(kind, tmp_path)
    before = target.read_bytes() if target.is_file() else None
    argv = [*argv_for(command, Path(QUICKSTART), target)]
    result = run_cli(argv, capsys)
    assert result.code == 2, result.lines
    assert len(result.lines) == 1 and "--out" in result.lines[0], result.lines
    assert result.out == "", "refused before simulating anything"
    if before is not None:
        assert target.read_bytes() == before
    assert not [p for p in tmp_path.rglob("*") if ".partial-" in p.name]
    assert os.path.exists(os.devnull) and not Path(os.devnull).is_file()


# --- sweep files ---------------------------------------------------------------------------

SWEEP_OK = (
    "scenario: {scenario}\n"
    "set: [workload.duration_s=2]\n"
    "grid:\n"
    "  mesh.mode: [none, sidecar]\n"
    "  workload.generator.rate_rps: [100, 200]\n"
    "replications: 2\n"
)

# (id, sweep text with {scenario}, line, field, phrase)
SWEEP_CASES: list[tuple[str, str, int | None, str | None, str | None]] = [
    (
        "replications-two",
        SWEEP_OK.replace("replications: 2", "replications: two"),
        6,
        "replications",
        None,
    ),
    (
        "replications-list",
        SWEEP_OK.replace("replications: 2", "replications: [1, 2]"),
        6,
        "replications",
        None,
    ),
    (
        "replications-fraction",
        SWEEP_OK.replace("replications: 2", "replications: 2.7"),
        6,
        "replications",
        None,
    ),
    (
        "replications-true",
        SWEEP_OK.replace("replications: 2", "replications: true"),
        6,
        "replications",
        None,
    ),
    (
        "replications-zero",
        SWEEP_OK.replace("replications: 2", "replications: 0"),
        6,
        "replications",
        None,
    ),
    (
        "replications-1e6",
        SWEEP_OK.replace("replications: 2", "replications: 1000000"),
        None,
        None,
        "--max-tasks",
    ),
    (
        "duplicate-grid-key",
        SWEEP_OK.replace(
            "  workload.generator.rate_rps", "  mesh.mode: [ambient]\n  workload.generator.rate_rps"
        ),
        5,
        "grid.mesh.mode",
        "duplicate",
    ),
    ("duplicate-top-key", SWEEP_OK + "replications: 3\n", 7, "replications", "duplicate"),
    (
        "grid-not-mapping",
        SWEEP_OK.replace(
            "grid:\n  mesh.mode: [none, sidecar]\n  workload.generator.rate_rps: [100, 200]\n",
            "grid: [a, b]\n",
        ),
        3,
        "grid",
        None,
    ),
    ("grid-value-not-list", SWEEP_OK.replace("[none, sidecar]", "none"), 4, "grid.mesh.mode", None),
    ("grid-empty-list", SWEEP_OK.replace("[none, sidecar]", "[]"), 4, "grid.mesh.mode", None),
    (
        "grid-bad-value",
        SWEEP_OK.replace("[none, sidecar]", "[none, kuma]"),
        4,
        "grid.mesh.mode",
        "kuma",
    ),
    (
        "grid-inf-value",
        SWEEP_OK.replace("[100, 200]", "[100, .inf]"),
        5,
        "grid.workload.generator.rate_rps",
        None,
    ),
    (
        "grid-repeated-value",
        SWEEP_OK.replace("[100, 200]", "[100, 100]"),
        5,
        "grid.workload.generator.rate_rps",
        "repeated",
    ),
    (
        "grid-1e6-points",
        SWEEP_OK.replace(
            "[none, sidecar]", "[" + ",".join(str(i) for i in range(1000)) + "]"
        ).replace("[100, 200]", "[" + ",".join(str(100 + i) for i in range(1000)) + "]"),
        None,
        None,
        "--max-tasks",
    ),
    ("unknown-key", SWEEP_OK + "workers: 4\n", 7, "workers", None),
    ("scenario-missing", SWEEP_OK.replace("{scenario}", "nowhere.yaml"), 1, "scenario", None),
    (
        "scenario-not-text",
        SWEEP_OK.replace("scenario: {scenario}", "scenario: [a]"),
        1,
        "scenario",
        None,
    ),
    (
        "set-bad-value",
        SWEEP_OK.replace("workload.duration_s=2", "workload.duration_s=-1"),
        2,
        "set.0",
        None,
    ),
    (
        "set-broken-yaml",
        SWEEP_OK.replace("workload.duration_s=2", "'workload.duration_s=[1'"),
        2,
        "set.0",
        None,
    ),
    ("yaml-syntax", SWEEP_OK.replace("[none, sidecar]", "[none, sidecar"), None, None, "YAML"),
    ("alias-bomb", alias_bomb(Path()).decode() + "grid: {a: [1]}\n", None, None, "aliases"),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [pytest.param(t, ln, f, w, id=i) for i, t, ln, f, w in SWEEP_CASES],
)
def test_bad_sweep_file(text, line, field, words, tmp_path, out, capsys) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(text.replace("{scenario}", QUICKSTART))
    result = run_cli(["sweep", str(sweep), "--quiet", "--out", str(out)], capsys)
    expect = Expect(file="{sweep}", line=line, field=field, words=words)
    assert_contract(result, expect, {"sweep": str(sweep)}, out)
    assert "--grid" not in result.lines[0] and "--set" not in result.lines[0]


@pytest.mark.parametrize(
    "data", [b"scenario: x\ngrid: {a: [1]}\n\xff\n", b"scenario: x\x00\n"], ids=["utf8", "nul"]
)
def test_binary_sweep_file(data, tmp_path, out, capsys) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_bytes(data)
    result = run_cli(["sweep", str(sweep), "--quiet", "--out", str(out)], capsys)
    assert_contract(result, Expect(file="{sweep}"), {"sweep": str(sweep)}, out)


def test_sweep_point_over_the_component_limit(out, capsys) -> None:
    """The largest point counts, not the base scenario."""
    argv = ["sweep", QUICKSTART, "--quiet", "--out", str(out)]
    result = run_cli([*argv, "--grid", "services.db.replicas=1,1000000"], capsys)
    assert_contract(result, Expect(file=None, words="--max-components"), {}, out)
