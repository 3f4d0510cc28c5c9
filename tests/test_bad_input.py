"""Bad input: one line naming file, line and field; exit 2; no traceback; nothing written."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

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
        [*meshsim_cmd(), "run", str(SCENARIOS / "mm1.yaml"), "--set", "mesh.mode=kuma"],
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
        [*meshsim_cmd(), "compare", str(SCENARIOS / "mm1.yaml"), "--modes", "sidecar,kuma"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "kuma" in proc.stderr


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


# --- faults: full disk, signals, killed sweeps, two sweeps on one folder ---------------------

MM1 = str(SCENARIOS / "mm1.yaml")
SHORT_MM1 = ["--set", "workload.duration_s=0.4", "--set", "workload.warmup_s=0.1"]


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """A folder on a filesystem with almost no space left: a 64 KiB tmpfs filled to its last
    few KiB where this test may mount one (root), else writes that fail with ENOSPC."""
    import errno

    import meshsim.output

    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
        ).returncode
        == 0
    )
    if mounted:
        filler = mount / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"x" * 1024)
        os.close(fd)
        os.truncate(filler, filler.stat().st_size - 8 * 1024)  # leave 8 KiB
        yield mount
        subprocess.run(["umount", str(mount)], check=False)
    else:
        real = meshsim.output.write_bytes

        def no_space(path, data):
            if len(list(Path(path).parent.iterdir())) >= 1:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            return real(path, data)

        monkeypatch.setattr(meshsim.output, "write_bytes", no_space)
        yield mount


def _cli(argv, capsys):
    from meshsim.cli import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err.splitlines()


@pytest.mark.parametrize("command", ["run", "compare", "report"])
def test_full_disk_leaves_nothing_partial_and_keeps_earlier_files(command, full_disk, capsys):
    out = full_disk / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier")
    before = sorted(p.name for p in full_disk.iterdir())
    argv = [command, MM1, "--out", str(out), "--quiet", "--replications", "1", *SHORT_MM1]
    if command != "run":
        argv += ["--modes", "none,sidecar"]
    if command == "report":
        argv += ["--no-capacity"]
    code, lines = _cli(argv, capsys)
    assert code == 2, lines
    assert len(lines) == 1 and "--out" in lines[0] and "nothing was written" in lines[0], lines
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "earlier"
    assert sorted(p.name for p in full_disk.iterdir()) == before  # no temporary folder left


def test_out_is_replaced_atomically_and_earlier_files_are_kept(tmp_path, capsys):
    fresh = tmp_path / "a" / "b" / "fresh"
    code, lines = _cli(["run", MM1, "--out", str(fresh), "--quiet", *SHORT_MM1], capsys)
    assert code == 0, lines
    names = sorted(p.name for p in fresh.iterdir())
    assert names == ["hops.csv", "provenance.json", "resources.csv", "summary.json"]
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("earlier")
    (existing / "summary.json").write_text("{}")
    code, lines = _cli(["run", MM1, "--out", str(existing), "--quiet", *SHORT_MM1], capsys)
    assert code == 0, lines
    assert (existing / "keep.txt").read_text() == "earlier"
    assert json.loads((existing / "summary.json").read_text()) != {}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_read_only_out_is_one_line_before_simulating(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], capture_output=True
        ).returncode
        == 0
    )
    if not mounted:
        ro.chmod(0o500)
    try:
        code, lines = _cli(["run", MM1, "--out", str(ro / "out"), "--quiet"], capsys)
    finally:
        if mounted:
            subprocess.run(["umount", str(ro)], check=False)
        ro.chmod(0o700)
    assert code == 2 and len(lines) == 1 and "--out" in lines[0], lines
    assert "Read-only" in lines[0] or "Permission" in lines[0]


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_ends_like_ctrl_c(sig, status, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*meshsim_cmd(), "run", MM1, "--out", str(out), "--set", "workload.duration_s=600"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # well into the command (imports and loading take well under a second of CPU): the
    # signal lands while it simulates, whatever the machine's load
    deadline = time.monotonic() + 120
    while _cpu_seconds(proc.pid) < 2.0 and proc.poll() is None:
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_sweep(out: Path) -> tuple[subprocess.Popen, set[int]]:
    """A sweep of long tasks on two workers, returned once both workers run."""
    cmd = [*meshsim_cmd(), "sweep", MM1, "--out", str(out), "--quiet", "--workers", "2"]
    cmd += ["--grid", "sim.seed=1,2,3,4", "--set", "workload.duration_s=600"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while len(workers) < 2 and time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        workers = _children(proc.pid)
        time.sleep(0.1)
    time.sleep(1.0)  # let them start simulating
    return proc, workers


def _gone(workers: set[int]) -> list[int]:
    """Wait up to 10 s for ``workers`` to end; kill and return those that did not."""
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [w for w in workers if _alive(w)]
    for w in left:
        os.kill(w, signal.SIGKILL)
    return left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_killed_sweep_takes_its_workers_with_it(tmp_path):
    out = tmp_path / "out"
    proc, workers = _start_sweep(out)
    proc.kill()  # kill -9 of the driver only: its workers must follow
    proc.wait()
    assert len(workers) >= 2, "the sweep should have started its workers"
    assert not _gone(workers), "workers outlived the killed sweep"
    from meshsim.outdir import locked

    with locked(out):  # the kernel released the dead driver's lock
        pass


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_sigterm_to_a_sweep_ends_its_workers_at_once(tmp_path):
    out = tmp_path / "out"
    proc, workers = _start_sweep(out)
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert len(workers) >= 2, "the sweep should have started its workers"
    assert proc.returncode == 143
    assert len(err.decode().strip().splitlines()) == 1 and b"Traceback" not in err, err
    assert not _gone(workers), "workers outlived the terminated sweep"
    assert not (out / "results.csv").exists()


def test_a_second_sweep_on_a_locked_folder_is_refused(tmp_path, capsys):
    from meshsim.outdir import locked

    out = tmp_path / "out"
    with locked(out):
        code, lines = _cli(
            ["sweep", MM1, "--out", str(out), "--quiet", "--grid", "sim.seed=1,2", *SHORT_MM1],
            capsys,
        )
    assert code == 2 and len(lines) == 1 and "in use by another meshsim" in lines[0], lines
    assert not (out / "results.csv").exists()


def test_a_sweep_of_another_grid_does_not_replace_the_table(tmp_path, capsys):
    out = tmp_path / "out"
    first = ["sweep", MM1, "--out", str(out), "--quiet", "--workers", "1", *SHORT_MM1]
    code, lines = _cli([*first, "--grid", "sim.seed=1,2"], capsys)
    assert code == 0, lines
    table = (out / "results.csv").read_bytes()
    code, lines = _cli([*first, "--grid", "workload.generator.rate_rps=100,200"], capsys)
    assert code == 2 and len(lines) == 1 and "another sweep" in lines[0], lines
    assert (out / "results.csv").read_bytes() == table
    code, lines = _cli([*first, "--grid", "sim.seed=1,2"], capsys)  # the same sweep resumes
    assert code == 0, lines


@pytest.mark.slow
def test_call_graph_at_the_depth_limit_simulates(tmp_path, capsys):
    """The depth limit is one the engine really reaches (and one past it is refused)."""
    from meshsim.scenario import MAX_CALL_DEPTH

    def chain(depth: int) -> Path:
        services = "".join(f"  s{i}: {{calls: [{{service: s{i + 1}}}]}}\n" for i in range(depth))
        path = tmp_path / f"chain-{depth}.yaml"
        path.write_text(
            "cluster: {nodes: [{name: n, cores: 4}]}\n"
            f"services:\n{services}  s{depth}: {{}}\n"
            "workload: {entry: s0, generator: {type: open, rate_rps: 10}, requests: 3}\n"
            "mesh: {mode: waypoint}\nsim: {replications: 1}\n"
        )
        return path

    code, lines = _cli(["run", str(chain(MAX_CALL_DEPTH - 1)), "--quiet"], capsys)
    assert code == 0, lines
    code, lines = _cli(["run", str(chain(MAX_CALL_DEPTH)), "--quiet"], capsys)
    assert code == 2 and len(lines) == 1 and f"at most {MAX_CALL_DEPTH}" in lines[0], lines
