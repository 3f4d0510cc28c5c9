"""Published ambient resource data, the one-load-level guard, and validate's honesty about
which points it scored, dropped, or counts as fitted."""

from __future__ import annotations

import csv
import json
import statistics
import subprocess

import pandas as pd
import pytest
import yaml
from conftest import ROOT, SCENARIOS, SHARED, meshsim_cmd

from meshsim.calibrate import Calibrator, FreeParameter
from meshsim.errors import ScenarioError
from meshsim.loader import load_scenario
from meshsim.measurements import load_measurements, load_points, select
from meshsim.published import read_istio_docs, resource_points

AMBIENT = ROOT / "data" / "ambient"
BUOYANT = AMBIENT / "buoyant-2025-resources.csv"
DOCS = AMBIENT / "istio-docs-proxy-cost.csv"
FACES = SCENARIOS / "calibration" / "faces-ambient.yaml"
FORTIO = sorted((ROOT / "data" / "fortio").glob("*.json"))
PROFILE = ROOT / "meshsim" / "profile_data" / "istio-1.25-ambient-fitted.yaml"


def _csv_rows(path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def test_the_repository_copy_is_the_shared_fixture() -> None:
    for name in ("buoyant-2025-resources.csv", "istio-docs-proxy-cost.csv"):
        assert (AMBIENT / name).read_bytes() == (SHARED / "fixtures/ambient" / name).read_bytes()


def test_buoyant_runs_become_one_point_per_sequence_and_rate() -> None:
    rows = _csv_rows(BUOYANT)
    points = resource_points(BUOYANT).set_index("point")
    assert len(points) == 15  # 3 sequences x 5 rates
    for rate in (60, 600, 1200):
        runs = [
            r for r in rows if r["sequence"] == "ambient" and r["target_rps_total"] == str(rate)
        ]
        point = points.loc[f"buoyant-2025-ambient:waypoint:c600:q{rate}"]
        assert point["repetitions"] == len(runs) == 5
        for ours, theirs in (
            ("cpu_ztunnel", "ztunnel_mesh_CPU_mcores"),
            ("cpu_waypoint", "waypoint_mesh_CPU_mcores"),
            ("mem_ztunnel", "ztunnel_mesh_mem_MiB"),
            ("mem_waypoint", "waypoint_mesh_mem_MiB"),
        ):
            assert point[ours] == pytest.approx(statistics.median(float(r[theirs]) for r in runs))
        assert pd.isna(point["p50"]) and pd.isna(point["cpu_sidecar_server"])
    linkerd = [r for r in rows if r["sequence"] == "linkerd-2" and r["target_rps_total"] == "240"]
    point = points.loc["buoyant-2025-linkerd-2:linkerd:c600:q240"]  # every linkerd-proxy
    data_plane = statistics.median(float(r["data_plane_CPU_mcores"]) for r in linkerd)
    assert point["cpu_linkerd"] == pytest.approx(data_plane)
    assert pd.isna(point["cpu_sidecar_client"])
    assert pd.isna(point["cpu_ztunnel"])
    # and through the loader every command uses
    loaded = load_measurements([BUOYANT]).set_index("point")
    assert loaded.loc["buoyant-2025-ambient:waypoint:c600:q1200", "cpu_ztunnel"] == 2352.1


def test_istio_docs_figures_in_meshsim_units() -> None:
    figures = read_istio_docs(DOCS)
    v124 = figures[(figures["istio_version"] == "1.24") & (figures["metric"] == "cpu")]
    per_kind = v124.set_index("kind")["value"]
    assert per_kind.to_dict() == pytest.approx({"sidecar": 200, "waypoint": 250, "ztunnel": 60})
    memory = figures[(figures["istio_version"] == "1.24") & (figures["metric"] == "memory")]
    assert set(memory["unit"]) == {"MiB"}
    assert memory.set_index("kind").loc["ztunnel", "value"] == pytest.approx(12e6 / 2**20)
    with pytest.raises(ScenarioError, match="per-proxy figures"):
        load_measurements([DOCS])  # not a run of a scenario: no point to fit


def test_a_bad_cell_is_one_line_naming_file_line_and_field(tmp_path) -> None:
    text = BUOYANT.read_text().replace(",118.8,38.1,", ",lots,38.1,", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if ",lots," in row)
    proc = subprocess.run(
        [
            *meshsim_cmd(),
            "calibrate",
            str(bad),
            "--scenario",
            str(FACES),
            "--out",
            str(tmp_path / "p.yaml"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"meshsim: error: {bad}:{line}: ztunnel_mesh_CPU_mcores: not a number"
    )
    assert not (tmp_path / "p.yaml").exists()


def _ambient_points(rates: tuple[int, ...]) -> pd.DataFrame:
    points = load_measurements([BUOYANT])
    ambient = points[points["campaign"] == "buoyant-2025-ambient"]
    return ambient[ambient["requested_qps"].isin(rates)]


CPU_US = [
    FreeParameter(
        f"{kind}_cpu_us",
        (f"params.{kind}.request_cpu_us", f"params.{kind}.response_cpu_us"),
        5,
        3000,
    )
    for kind in ("ztunnel", "waypoint")
]
WAKEUP = FreeParameter("ztunnel_wakeup_us", ("params.ztunnel.wakeup_cpu_us",), 1, 3000)


def test_ztunnel_and_waypoint_cpu_fit_on_two_rates_predicts_a_third() -> None:
    template = load_scenario(FACES)
    metrics = ("cpu_ztunnel", "cpu_waypoint")
    cal = Calibrator(template, CPU_US, metrics, duration_s=1.0, max_evaluations=20)
    cal.fit(_ambient_points((120, 600)))
    assert cal.load_levels_ == ["120 rps, 600 connections", "600 rps, 600 connections"]
    assert cal.sensitivity_["identified"].all()
    held_out = _ambient_points((1200,))
    predicted = cal.predict(cal.values_, held_out)[0]
    for metric in metrics:
        assert predicted[metric] == pytest.approx(held_out.iloc[0][metric], rel=0.15)


def test_one_load_level_with_load_dependent_parameters_is_refused() -> None:
    template = load_scenario(FACES)
    one_level = _ambient_points((600,))
    cal = Calibrator(template, [*CPU_US, WAKEUP], ("cpu_ztunnel",), 1.0, max_evaluations=4)
    with pytest.raises(ScenarioError, match=r"one load level \(600 rps, 600 connections\)") as err:
        cal.fit(one_level)
    assert "ztunnel_wakeup_us" in str(err.value) and "\n" not in str(err.value)
    # per-message costs alone are not load-dependent: one level is enough for them
    Calibrator(template, CPU_US, ("cpu_ztunnel",), 1.0, max_evaluations=2).fit(one_level)
    # and two levels are accepted with the wake-up cost free
    Calibrator(template, [WAKEUP], ("cpu_ztunnel",), 1.0, max_evaluations=2).fit(
        _ambient_points((120, 600))
    )


def test_the_guard_on_the_command_line_and_its_flag(tmp_path) -> None:
    out = tmp_path / "p.yaml"
    cmd = [
        *meshsim_cmd(),
        "calibrate",
        str(BUOYANT),
        "--scenario",
        str(FACES),
        "--out",
        str(out),
        "--quiet",
        "--duration",
        "1",
        "--max-evaluations",
        "2",
        "--metrics",
        "cpu_ztunnel",
        "--fit-on",
        "campaign == 'buoyant-2025-ambient' and requested_qps == 240",
        "--free",
        "ztunnel_wakeup_us=params.ztunnel.wakeup_cpu_us:1:3000",
    ]
    refused = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "one load level (240 rps, 600 connections)" in refused.stderr
    assert "--allow-single-load" in refused.stderr
    assert not out.exists()
    subprocess.run([*cmd, "--allow-single-load"], check=True, capture_output=True, cwd=ROOT)
    calibration = yaml.safe_load(out.read_text())["calibration"]
    assert calibration["allow_single_load"] is True
    assert calibration["load_levels"] == ["240 rps, 600 connections"]
    assert calibration["fitted_points"] == ["buoyant-2025-ambient:waypoint:c600:q240"]


def test_validate_lists_every_dropped_point_and_why(tmp_path) -> None:
    profile = ROOT / "reports" / "validation" / "istio-1.2-c4-c32" / "profile.yaml"
    out = tmp_path / "v"
    proc = subprocess.run(
        [
            *meshsim_cmd(),
            "validate",
            str(profile),
            *map(str, FORTIO),
            "--out",
            str(out),
            "--quiet",
            "--duration",
            "1",
            "--select",
            "campaign == '193ff770' and connections == 64",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    points, invalid = load_points(FORTIO)
    chosen = select(points, "campaign == '193ff770' and connections == 64")
    expected = (set(points["point"]) - set(chosen["point"])) | set(invalid["point"])
    assert "193ff770:sidecar-both:c1:q1000" in set(invalid["point"])
    said = {
        line.split()[2].rstrip(":")
        for line in proc.stderr.splitlines()
        if line.startswith("meshsim: dropped ")
    }
    assert said == expected
    assert "dropped 193ff770:sidecar-both:c1:q1000: invalid run: achieved 742" in proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert {d["point"] for d in summary["dropped"]} == expected
    table = pd.read_csv(out / "validation.csv")
    dropped = table[table["set"] == "dropped"]
    assert set(dropped["point"]) == expected
    assert dropped["dropped_because"].str.len().min() > 0
    scored = table[table["set"] != "dropped"]
    assert set(scored["connections"]) == {64}
    assert summary["all"]["points"] == scored["point"].nunique()


def test_a_recorded_fit_on_is_provenance_not_a_selection(tmp_path) -> None:
    """A profile whose recorded selector matches other data: every point is validated and
    none is counted as fitted; only the points the profile names as fitted are marked."""
    doc = yaml.safe_load(PROFILE.read_text())
    doc["calibration"]["fit_on"] = "requested_qps == 120"
    doc["calibration"].pop("fitted_points")
    old_style = tmp_path / "old-style.yaml"
    old_style.write_text(yaml.safe_dump(doc))
    rerun = tmp_path / "rerun.csv"  # other data: a re-run of two of the ambient rates
    lines = [
        line.replace("ambient,istio", "ambient-rerun,istio")
        for line in BUOYANT.read_text().splitlines()
        if line.startswith(("#", "sequence", "ambient,istio-ambient-1.25.0+waypoint,120,"))
        or line.startswith("ambient,istio-ambient-1.25.0+waypoint,240,")
    ]
    rerun.write_text("\n".join(lines) + "\n")

    def validate(profile, data) -> tuple[pd.DataFrame, str]:
        out = tmp_path / f"v-{profile.stem}-{data.stem}"
        proc = subprocess.run(
            [
                *meshsim_cmd(),
                "validate",
                str(profile),
                str(data),
                "--out",
                str(out),
                "--quiet",
                "--duration",
                "1",
                "--scenario",
                str(FACES),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        return pd.read_csv(out / "validation.csv"), proc.stderr

    table, stderr = validate(old_style, rerun)
    assert set(table["requested_qps"]) == {120, 240}  # all valid points: not filtered by fit_on
    assert set(table["set"]) == {"holdout"}
    assert "provenance, not applied" in stderr
    table, _ = validate(PROFILE, rerun)  # the shipped profile names its points: none here
    assert set(table["set"]) == {"holdout"}
    table, _ = validate(PROFILE, BUOYANT)  # ... and on its own data marks exactly those
    fitted = set(table.loc[table["set"] == "fit", "point"])
    assert fitted == set(yaml.safe_load(PROFILE.read_text())["calibration"]["fitted_points"])


def test_cpu_only_fits_free_only_the_cpu_of_the_measured_proxy_kinds() -> None:
    from meshsim.calibrate import default_free

    template = load_scenario(FACES, ["mesh.profile=istio-1.25-ambient-fitted"])  # built in
    assert template.profile.name == "istio-1.25-ambient-fitted"
    names = [f.name for f in default_free(template, _ambient_points((60,)), ("cpu_ztunnel",))]
    assert names == ["ztunnel_cpu_us", "ztunnel_wakeup_us"]  # no network, server or waypoint
    both = default_free(template, _ambient_points((60,)), ("cpu_ztunnel", "cpu_waypoint"))
    assert {f.name.split("_")[0] for f in both} == {"ztunnel", "waypoint"}
    with_latency = [f.name for f in default_free(template, _ambient_points((60,)), ("p50",))]
    assert "network_ms" in with_latency


def test_a_point_with_nothing_measured_is_listed_not_silently_skipped(tmp_path) -> None:
    rows = BUOYANT.read_text().splitlines()
    header = next(row for row in rows if row.startswith("sequence,")).split(",")
    blank = {header.index(c) for c in ("ztunnel_mesh_CPU_mcores", "waypoint_mesh_CPU_mcores")}
    kept = []
    for row in rows:
        cells = row.split(",")
        if row.startswith("ambient,istio-ambient-1.25.0+waypoint,60,"):
            cells = ["" if i in blank else c for i, c in enumerate(cells)]
        if row.startswith(("#", "sequence,", "ambient,istio-ambient-1.25.0+waypoint,60,")):
            kept.append(",".join(cells))
        elif row.startswith("ambient,istio-ambient-1.25.0+waypoint,120,"):
            kept.append(row)
    data = tmp_path / "partly-empty.csv"
    data.write_text("\n".join(kept) + "\n")
    out = tmp_path / "v"
    proc = subprocess.run(
        [
            *meshsim_cmd(),
            "validate",
            str(PROFILE),
            str(data),
            "--out",
            str(out),
            "--quiet",
            "--duration",
            "1",
            "--scenario",
            str(FACES),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    q60 = "buoyant-2025-ambient:waypoint:c600:q60"
    assert f"dropped {q60}: nothing measured" in proc.stderr
    table = pd.read_csv(out / "validation.csv")
    assert table.loc[table["point"] == q60, "set"].tolist() == ["dropped"]
    assert set(table.loc[table["set"] != "dropped", "requested_qps"]) == {120}
