"""The report: built from real (short) runs, self-contained, and rendered by a real browser."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from meshsim.loader import load_scenario
from meshsim.report import ReportData, _cell, gather, per_call_table, write_report

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReportData]:
    """A seed-claims report from short runs, written once for every test here."""
    loaded = load_scenario(
        ROOT / "scenarios" / "seed-claims.yaml",
        ["workload.duration_s=1.5", "workload.warmup_s=0.2", "sim.replications=1"],
    )
    data = gather(
        loaded,
        ["none", "sidecar", "ambient"],
        "p99<=10ms",
        other_profiles=["istio-1.24-published"],
        requests_per_point=500,
        rel_tol=0.25,
        capacity_seeds=2,
    )
    out = tmp_path_factory.mktemp("report")
    write_report(data, out)
    return out, data


@pytest.mark.slow
def test_files_and_embedded_images(report: tuple[Path, ReportData]) -> None:
    report_dir = report[0]
    page = (report_dir / "index.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 5  # latency vs load, waterfall, percentiles, cost by kind, scaling
    for data in images:
        assert base64.b64decode(data).startswith(PNG_MAGIC)
    assert "http://" not in page and "https://" not in page  # nothing to fetch: opens offline
    md = (report_dir / "report.md").read_text()
    for name in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (report_dir / name).read_bytes().startswith(PNG_MAGIC)
    for section in (
        "Summary per mode",
        "Latency against load",
        "Where the time goes",
        "Cost per component kind",
        "~75% claim",
        "istio-1.24-published",
        "Profiles side by side",
        "Assumptions and provenance",
    ):
        assert section in md and section in page


@pytest.mark.slow
def test_report_opens_with_conclusions_and_intervals(report: tuple[Path, ReportData]) -> None:
    report_dir, data = report
    md = (report_dir / "report.md").read_text()
    opening = md.split("\n\n")[1]
    assert opening.startswith("Latency added over no mesh at p99: sidecar ")
    assert "Provisioned (Kubernetes requests priced, USD/month)" in opening
    assert "mean across 2 seeds" in opening
    # every mode's capacity has an interval, or is said to be the same for every seed
    assert opening.count("95% CI") + opening.count("the same for every seed") >= 3
    sidecar = data.main.comparison.added_intervals("sidecar")["p99"]
    assert f"sidecar {sidecar[0]:.2f} ms" in opening
    assert "95% CI low (rps)" in md and "seed-to-seed spread" in md
    # equal columns say why; the waterfall says why it runs past the latency (parallel calls)
    assert "is the same in every mode:" in md
    assert "in parallel" in md or "No bar runs past" in md


@pytest.mark.slow
def test_report_cites_only_files_in_the_repository(report: tuple[Path, ReportData]) -> None:
    _check_citations(report[0])


@pytest.mark.parametrize(
    "name", ["quickstart", "seed-claims", "seed-claims/dense-10-pods-per-node"]
)
def test_shipped_reports_cite_only_files_in_the_repository(name: str) -> None:
    _check_citations(ROOT / "reports" / name)


def _check_citations(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    cited = set(re.findall(r"[\w.:/-]+\.(?:ya?ml|md|json|csv|py|png)\b", md))
    assert cited
    for name in cited:
        repo = r"\b(?:(?:istio|envoyproxy|kubernetes|linkerd|cilium)/[\w.-]+|linkerd2) "
        if re.search(repo + re.escape(name), md):
            continue  # a file of another project's repository, named with that repository
        path = name.removeprefix("meshsim:")
        path = "meshsim/" + path if name.startswith("meshsim:") else path
        found = (ROOT / path).exists() or (report_dir / path).exists() or Path(path).exists()
        assert found, f"the report cites {name}, which is not in the repository"


@pytest.mark.slow
def test_report_carries_provenance_and_the_claims_numbers(
    report: tuple[Path, ReportData],
) -> None:
    report_dir, data = report
    md = (report_dir / "report.md").read_text()
    assert "scenario_sha256: `sha256:" in md
    assert "profile: `seed-claims`" in md and "seed: `5`" in md
    assert "meshsim_version: `" in md
    # the seed-claims profile puts ~2 ms into an L7 traversal and ~0.5 ms into an L4 one;
    # istio-1.24-published puts only CPU there: a fraction of that
    claims, published = (
        per_call_table(run).set_index("mode") for run in (data.main, data.others[0])
    )
    col = "per traversal (ms)"
    assert claims.loc["sidecar", col] == pytest.approx(2.0, rel=0.15)
    assert claims.loc["ambient", col] == pytest.approx(0.5, rel=0.25)
    assert published.loc["sidecar", col] < 0.5 * claims.loc["sidecar", col]
    assert claims.loc["sidecar", "proxy traversals per call"] == pytest.approx(2)
    in_proxies = _cell(claims.loc["sidecar", "time in proxies per call (ms)"])
    assert f"| sidecar | 1.000 | 2.000 | {in_proxies} |" in md


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin")
def test_html_renders_in_headless_chromium(report: tuple[Path, ReportData], tmp_path: Path) -> None:
    report_dir = report[0]
    """Chromium, offline, loads the page and decodes every image (naturalWidth > 0)."""
    page = report_dir / "index.html"
    probe = tmp_path / "probe.html"
    html = page.read_text().replace(
        "</body>",
        "<script>window.addEventListener('load',()=>{const i=[...document.images];"
        "document.title='IMAGES '+i.length+' DECODED '+i.filter(x=>x.complete&&"
        "x.naturalWidth>0).length;});</script></body>",
    )
    probe.write_text(html)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    proc = subprocess.run(
        [str(CHROMIUM), *flags, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    title = re.search(r"<title>(.*?)</title>", proc.stdout)
    assert title is not None, proc.stdout[:500]
    assert title.group(1) == "IMAGES 5 DECODED 5"  # waterfall, percentiles, load, cost, scaling
    shot = tmp_path / "shot.png"
    subprocess.run(
        [str(CHROMIUM), *flags, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert shot.read_bytes().startswith(PNG_MAGIC)
    assert shot.stat().st_size > 20_000  # a blank page is a few KiB


def test_cli_report_rejects_bad_input(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "meshsim.cli",
            "report",
            str(ROOT / "scenarios" / "mm1.yaml"),
            "--out",
            str(tmp_path),
            "--modes",
            "none,istio",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "unknown mode 'istio'" in proc.stderr
    assert not any(tmp_path.iterdir())


def test_shipped_reports_match_the_shipped_scenarios() -> None:
    """A committed report names the scenario file it came from and that file's hash: when
    the scenario changes, the report must be generated again."""
    for name in ("quickstart", "seed-claims"):
        md = (ROOT / "reports" / name / "report.md").read_text()
        text = (ROOT / "scenarios" / f"{name}.yaml").read_text()
        digest = "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
        assert f"scenario: `scenarios/{name}.yaml`" in md
        assert f"scenario_sha256: `{digest}`" in md, f"regenerate reports/{name}"
        page = (ROOT / "reports" / name / "index.html").read_text()
        assert page.count("data:image/png;base64,") >= 4
