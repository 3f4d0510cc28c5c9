"""scripts/fit_linkerd_resources.py: reproducible output, sane fits, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "fit_linkerd_resources.py"
COMMITTED = ROOT / "docs" / "linkerd-fit.md"
FIXTURE = ROOT.parent / "shared" / "fixtures" / "ambient" / "buoyant-2025-resources.csv"

pytestmark = pytest.mark.skipif(not FIXTURE.is_file(), reason=f"no fixture at {FIXTURE}")


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False
    )


def test_output_reproduces_committed_table(tmp_path: Path) -> None:
    out = tmp_path / "fit.md"
    result = run(FIXTURE, "--out", out)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == COMMITTED.read_text()


def test_data_plane_cpu_line_predicts_held_out_loads() -> None:
    row = next(
        line for line in COMMITTED.read_text().splitlines() if line.startswith("| cpu:data_plane")
    )
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    slope = float(cells[2].split()[0])
    holdout_mape = float(cells[3])
    assert 1.5 < slope < 3.0  # mcores per request/s over 6 traversals
    assert holdout_mape < 10.0


def test_bad_number_is_one_line_error_with_exit_2(tmp_path: Path) -> None:
    lines = FIXTURE.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("linkerd,"))
    lines[index] = lines[index].replace(",146.1,", ",oops,", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("".join(lines))
    out = tmp_path / "fit.md"
    result = run(bad, "--out", out)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert f"{bad}:{index + 1}:" in result.stderr and "data_plane_CPU_mcores" in result.stderr
    assert not out.exists()
