"""real-bench import on the real fortio / istio-tools files in data/fortio (Istio 1.2.0, 2019)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from real_bench.cli import main
from real_bench.fortio import calc_percentile, record_from_fortio
from real_bench.importers import load_file, load_files
from real_bench.record import read_jsonl, write_jsonl

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "fortio"
FORTIO_FILES = sorted(FIXTURES.glob("2019-*.json"))
COMPILED = FIXTURES / "compiled-results.json"


def test_fixtures_present() -> None:
    assert len(FORTIO_FILES) == 9
    assert COMPILED.is_file()


@pytest.mark.parametrize("path", FORTIO_FILES, ids=lambda p: p.stem.split("_", 2)[-1])
def test_percentiles_recomputed_from_histogram_equal_stored(path: Path) -> None:
    hist = json.loads(path.read_text())["DurationHistogram"]
    assert sum(b["Count"] for b in hist["Data"]) == hist["Count"]
    for p in hist["Percentiles"]:
        assert calc_percentile(hist, p["Percentile"]) == p["Value"]  # exact, not approx


@pytest.mark.parametrize("path", FORTIO_FILES, ids=lambda p: p.stem.split("_", 2)[-1])
def test_fortio_units_and_fields(path: Path) -> None:
    doc = json.loads(path.read_text())
    rec = record_from_fortio(doc, path)
    assert rec.requested_qps == 1000.0  # "1000" string in the file
    assert rec.duration_s == pytest.approx(240.0, abs=0.1)  # ActualDuration in ns
    assert rec.latency.p50_us == pytest.approx(
        doc["DurationHistogram"]["Percentiles"][0]["Value"] * 1e6)
    assert rec.payload_bytes == 1024  # Sizes.Avg - HeaderSizes.Avg
    assert rec.connections == doc["NumThreads"]
    assert sum(b.count for b in rec.histogram) == rec.latency.count
    assert rec.tool_versions["fortio"] == "1.3.1"
    assert rec.mode == {"base": "none", "both": "sidecar", "serveronly": "sidecar"}[
        path.stem.rsplit("_", 1)[1]]


def test_742_qps_run_is_invalid_and_others_valid() -> None:
    recs = load_files(FORTIO_FILES)
    bad = [r for r in recs if not r.validity.valid]
    assert [r.label for r in bad] == ["193ff770_qps_1000_c_1_1024_both"]
    assert bad[0].achieved_qps == pytest.approx(742.18, abs=0.01)
    assert "achieved 742.2 qps of 1000" in bad[0].validity.reasons[0]
    assert all(r.validity.qps_ratio and r.validity.qps_ratio > 0.99 for r in recs if r not in bad)


def test_compiled_results_jsonl() -> None:
    recs = load_file(COMPILED)
    assert len(recs) == 35
    by_label = {r.label: r for r in recs}
    both16 = by_label["193ff770_qps_1000_c_16_1024_both"]
    assert (both16.latency.p50_us, both16.latency.p99_us) == (4380, 12283)
    assert both16.mode == "sidecar" and both16.mode_variant == "both"
    assert not by_label["193ff770_qps_1000_c_1_1024_both"].validity.valid
    names = {c.name for c in both16.components}
    assert {"sidecar_client", "sidecar_server"} <= names
    sc = next(c for c in both16.components if c.name == "sidecar_server")
    assert sc.role == "sidecar" and sc.cpu_millicores and sc.cpu_millicores > 0


def test_compiled_results_csv_form(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in COMPILED.read_text().splitlines() if line.strip()]
    out = tmp_path / "benchmark.csv"  # istio/tools writes the same dicts with pandas.to_csv
    pd.DataFrame(rows).to_csv(out, index=False)
    recs = load_file(out)
    assert [r.latency.p50_us for r in recs] == [float(r["p50"]) for r in rows]
    assert sum(not r.validity.valid for r in recs) == 1


def test_import_cli_one_table(tmp_path: Path) -> None:
    own = tmp_path / "own.jsonl"
    write_jsonl(own, load_files(FORTIO_FILES[:2]))
    out = tmp_path / "table.csv"
    assert main(["import", *map(str, FORTIO_FILES), str(COMPILED), str(own), "--out",
                 str(out)]) == 0
    df = pd.read_csv(out)
    assert len(df) == 9 + 35 + 2  # one row per run
    assert set(df["source"]) == {"fortio-json", "istio-tools"}
    assert df.loc[~df["valid"], "label"].str.endswith("c_1_1024_both").all()
    assert (~df["valid"]).sum() == 3
    assert read_jsonl(own)[0].model_dump() == load_files(FORTIO_FILES[:1])[0].model_dump()


def test_local_results_import(tmp_path: Path) -> None:
    results = Path(__file__).resolve().parents[1] / "real_bench" / "results"
    files = sorted(results.glob("*/records.jsonl"))
    if not files:
        pytest.skip("no committed local results")
    out = tmp_path / "t.csv"
    assert main(["import", *map(str, files), str(COMPILED), "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert {"local", "external"} <= set(df["backend"])


@pytest.mark.parametrize(("content", "needle"), [
    ('{"RunType": "HTTP", "DurationHistogram": {"Count": 1}, "Labels": "x_both"}',
     "missing field ActualQPS"),
    ('{"RunType": "HTTP", "DurationHistogram": {"Count": 1}, "ActualQPS": 1, '
     '"RequestedQPS": "lots", "ActualDuration": 1, "Labels": "x_both"}', "field RequestedQPS"),
    ('{"foo": 1}', "not a fortio, istio/tools or real_bench record"),
    ("not json at all\n", "CSV without the istio/tools columns"),
])
def test_bad_input_one_line_exit_2(tmp_path: Path, content: str, needle: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    proc = subprocess.run([sys.executable, "-m", "real_bench.cli", "import", str(bad), "--out",
                           str(tmp_path / "o.csv")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert str(bad) in proc.stderr and needle in proc.stderr
    assert not (tmp_path / "o.csv").exists()


def test_csv_written_atomically_no_temp_left(tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    assert main(["import", str(FORTIO_FILES[0]), "--out", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["provenance.json", "t.csv"]
    with out.open() as fh:
        assert len(list(csv.DictReader(fh))) == 1
    entry = json.loads((tmp_path / "provenance.json").read_text())["tables"]["t.csv"]
    assert entry["units"]["latency_p99_us"] == "us" and entry["provenance"]["records"] == 1
    assert entry["units"]["achieved_qps"] == "requests/s" and entry["units"]["mode"] == ""


def test_istio_tools_current_column_naming(tmp_path: Path) -> None:
    row = {"Labels": "abc_qps_1000_c_16_1024_both", "RequestedQPS": "1000", "ActualQPS": 998,
           "NumThreads": 16, "ActualDuration": 240, "min": 100, "max": 9000, "p50": 500,
           "p75": 600, "p90": 700, "p99": 900, "p999": 1500, "errorPercent": 0.0,
           "cpu_mili_avg_istio_proxy_fortioclient": 210.5,
           "cpu_mili_avg_istio_proxy_fortioserver": 190.0,
           "mem_Mi_max_istio_proxy_fortioserver": 61.0}
    f = tmp_path / "bench.jsonl"
    f.write_text(json.dumps(row) + "\n")
    (rec,) = load_file(f)
    comps = {c.name: c for c in rec.components}
    assert comps["sidecar_client"].cpu_millicores == 210.5
    assert comps["sidecar_server"].mem_mib == 61.0
    assert rec.validity.valid and rec.latency.p999_us == 1500
