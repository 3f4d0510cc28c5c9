"""Which measured points were spoiled by other work on the machine, and the hold-out error
without them: the local runs share 2 cores with other sessions, and every record carries the
CPU those used during its window (``host.background_cpu_millicores``).

    .venv/bin/python reports/validation/real-bench-local-hbone/background.py

writes, beside this file, background.csv (per point: the background CPU of its repetitions,
median and max, and how many stayed at or below QUIET) and quiet-mape.json (per validation
folder: meshsim's MAPE per metric on all scored points and on the quiet ones, a point being
quiet when the median background of its repetitions is at most QUIET)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
QUIET = 300.0  # mcores: real_bench's own warning threshold
RUNS = {
    "local": ROOT / "real_bench/results/local-hbone-1hop/records.jsonl",
    "local-3-tier": ROOT / "real_bench/results/local-hbone-3tier/records.jsonl",
}
FOLDERS = {
    "local": HERE,
    "local-3-tier": HERE.parent / "real-bench-local-hbone-3tier",
}


def background() -> pd.DataFrame:
    rows = []
    for campaign, path in RUNS.items():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if not r["validity"]["valid"]:
                continue
            rows.append(
                {
                    "point": f"{campaign}:{r['mode']}:c{r['connections']}:q{r['requested_qps']:g}",
                    "background_mcores": r["host"]["background_cpu_millicores"],
                }
            )
    runs = pd.DataFrame(rows)
    by_point = runs.groupby("point", sort=True)["background_mcores"]
    return pd.DataFrame(
        {
            "repetitions": by_point.size(),
            "background_median_mcores": by_point.median(),
            "background_max_mcores": by_point.max(),
            "quiet_repetitions": by_point.apply(lambda s: int((s <= QUIET).sum())),
        }
    ).reset_index()


def quiet_mape(points: pd.DataFrame) -> dict:
    quiet = set(points.loc[points["background_median_mcores"] <= QUIET, "point"])
    out = {"quiet_threshold_mcores": QUIET}
    for campaign, folder in FOLDERS.items():
        table = pd.read_csv(folder / "validation.csv", comment="#")
        table = table[(table["set"] == "holdout") & (table["campaign"] == campaign)]
        metric = table["metric"].where(~table["metric"].str.startswith("cpu_"), "cpu")
        part = {}
        for name, rows in (("all", table), ("quiet", table[table["point"].isin(quiet)])):
            mape = rows.groupby(metric.loc[rows.index])["meshsim_error_pct"]
            part[name] = {
                "points": sorted(rows["point"].unique()),
                "meshsim_mape_pct": mape.apply(lambda s: round(float(s.abs().mean()), 2)).to_dict(),
            }
        out[folder.name] = part
    return out


def main() -> None:
    points = background()
    points.to_csv(HERE / "background.csv", index=False)
    (HERE / "quiet-mape.json").write_text(json.dumps(quiet_mape(points), indent=2) + "\n")


if __name__ == "__main__":
    main()
