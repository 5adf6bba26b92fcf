#!/usr/bin/env python3
"""SCALE vs Nixtla statsforecast, side by side on exactly the same series, folds and horizons.

For every input file and horizon this runs `scale backtest --write-series`, then reads back
the series SCALE scored (after its gap policy), its fold origins, training window and seasonal
periods from backtest.json, and fits statsforecast's AutoETS and MSTL on the same training
slices. Both sides are scored with the same MASE (seasonal-naive in-sample scale, period = the
shortest detected season) and the same interval coverage.

Usage:
    bash bench/setup_venv.sh                     # once: /var/tmp/scale-bench-venv
    /var/tmp/scale-bench-venv/bin/python bench/compare_statsforecast.py \
        [--scale target/debug/scale] [--data ../shared/datasets] [--json OUT.json]

Columns: per-series mean fit+predict time (ms, one fold's fit plus predict, mean over folds),
mean MASE, and the 80%/95% coverage. SCALE's row is its *selected* model per series, scored
out of sample (each fold scored with the family selected on the other folds: `selection_mase`),
with its calibrated coverage and its fit+predict time.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
os.environ.setdefault("NIXTLA_ID_AS_COL", "1")

from statsforecast import StatsForecast  # noqa: E402
from statsforecast.models import MSTL, AutoETS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def datasets(data: Path):
    """(group, path) pairs; missing files are reported and skipped."""
    out = []
    aws = sorted((data / "nab" / "realAWSCloudwatch").glob("*.csv"))
    if not aws:
        print(f"note: no NAB realAWSCloudwatch files under {data}; skipping that group", file=sys.stderr)
    out += [("nab_aws", p) for p in aws]
    taxi = data / "nab" / "realKnownCause" / "nyc_taxi.csv"
    if taxi.exists():
        out.append(("nyc_taxi", taxi))
    else:
        print(f"note: {taxi} absent; skipping", file=sys.stderr)
    out.append(("sf_traffic", ROOT / "datasets" / "hourly_sf_traffic.csv"))
    return out


def seasonal_naive_mae(train, m):
    m = m if 0 < m < len(train) else 1
    d = np.abs(train[m:] - train[:-m])
    return d.mean() if len(d) else 0.0


def scale_backtest(binary, path, horizon, out):
    t0 = time.perf_counter()
    done = subprocess.run(
        [binary, "backtest", "--input", str(path), "--horizon", horizon, "--output", str(out), "--write-series"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode != 0:
        return None, done.stderr.strip(), 0.0
    wall = time.perf_counter() - t0
    report = json.loads((out / "backtest.json").read_text())
    series = next((out / "series").glob("*.csv"))
    y = pd.read_csv(series)["value"].to_numpy(dtype=float)
    return report, y, wall


# Seasonal ETS only for seasons of at most 24 steps, as R's forecast::ets (which statsforecast
# ports) refuses longer ones; a 288-step season also took ~100 s per fit here. Longer seasons are
# what MSTL is for.
MAX_ETS_SEASON = 24


def sf_models(periods):
    m = periods[0] if periods else 1
    m = m if m <= MAX_ETS_SEASON else 1
    return {
        "sf_autoets": lambda: AutoETS(season_length=m),
        "sf_mstl": (lambda: MSTL(season_length=list(periods), trend_forecaster=AutoETS(model="ZZN")))
        if periods
        else None,
    }


def run_sf(make, train, h, freq):
    df = pd.DataFrame({"unique_id": "s", "ds": np.arange(len(train)), "y": train})
    sf = StatsForecast(models=[make()], freq=1, n_jobs=1)
    t0 = time.perf_counter()
    fc = sf.forecast(df=df, h=h, level=[80, 95])
    ms = (time.perf_counter() - t0) * 1e3
    cols = [c for c in fc.columns if c not in ("unique_id", "ds")]
    point = [c for c in cols if "-lo-" not in c and "-hi-" not in c][0]
    get = lambda suffix: fc[f"{point}-{suffix}"].to_numpy()  # noqa: E731
    return fc[point].to_numpy(), get("lo-80"), get("hi-80"), get("lo-95"), get("hi-95"), ms


def score_sf(make, y, report):
    h, m, max_train = report["horizon_steps"], (report["periods"] or [1])[0], report["max_train"]
    mases, c80, c95, times = [], [], [], []
    for o in report["origins"]:
        train, actual = y[max(0, o - max_train) : o], y[o : o + h]
        try:
            point, lo80, hi80, lo95, hi95, ms = run_sf(make, train, h, 1)
        except Exception as e:  # statsforecast raises on some series; count it, don't hide it
            return dict(failed=f"origin {o}: {type(e).__name__}: {e}")
        scale = seasonal_naive_mae(train, m)
        if scale > 0:
            mases.append(np.abs(actual - point).mean() / scale)
        c80.append(np.mean((actual >= lo80) & (actual <= hi80)))
        c95.append(np.mean((actual >= lo95) & (actual <= hi95)))
        times.append(ms)
    return dict(mase=float(np.mean(mases)), cov80=float(np.mean(c80)), cov95=float(np.mean(c95)), ms=float(np.mean(times)))


def warm_up():
    """statsforecast compiles on first use; keep that out of the per-series times."""
    y = 10 + np.sin(np.arange(200) * 2 * np.pi / 24) + np.random.default_rng(0).normal(0, 0.1, 200)
    for make in sf_models([24, 48]).values():
        run_sf(make, y, 24, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    ap.add_argument("--scale", default=str(Path(target) / "debug" / "scale"))
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--horizons", default="1h,1d")
    ap.add_argument("--limit", type=int, default=0, help="at most this many files (0 = all)")
    ap.add_argument("--json", help="write per-series rows here")
    a = ap.parse_args()
    if not Path(a.scale).exists():
        sys.exit(f"error: scale binary {a.scale} not found (cargo build, or pass --scale)")
    files = datasets(Path(a.data))
    if a.limit:
        files = files[: a.limit]
    warm_up()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for horizon in a.horizons.split(","):
            for group, path in files:
                out = Path(tmp) / f"{path.stem}-{horizon}"
                report, y, wall = scale_backtest(a.scale, path, horizon, out)
                if report is None:  # e.g. too short for the horizon: neither side is scored
                    print(f"{horizon:>3} {path.stem:<40} skipped: {y}", file=sys.stderr, flush=True)
                    continue
                sel = next(m for m in report["models"] if m["name"] == report["selected"])
                row = dict(
                    group=group, series=path.stem, horizon=horizon, steps=report["horizon_steps"],
                    folds=report["folds"], periods=report["periods"], selected=report["selected"],
                    scale=dict(mase=report["selection_mase"], mase_in_sample=sel["mase"],
                               cov80=sel["coverage_80"], cov95=sel["coverage_95"],
                               ms=sel["fit_predict_ms"], backtest_wall_ms=wall * 1e3),
                )
                for name, make in sf_models(report["periods"]).items():
                    row[name] = score_sf(make, y, report) if make else None
                rows.append(row)
                sf = row["sf_autoets"]
                sf_txt = sf.get("failed") or f"mase {sf['mase']:.3f} {sf['ms']:8.2f} ms"
                print(f"{horizon:>3} {path.stem:<40} scale[{row['selected']}] mase {row['scale']['mase']:.3f} "
                      f"{row['scale']['ms']:8.2f} ms | sf_autoets {sf_txt}", file=sys.stderr, flush=True)
    print_table(rows)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


def print_table(rows):
    print("| Group | h | Series | Model | Mean MASE | Cov 80% | Cov 95% | Mean fit+predict / series | × SCALE time |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    keys = sorted({(r["group"], r["horizon"]) for r in rows}, key=lambda k: (k[1], k[0]))
    for group, horizon in keys + [("all", h) for h in sorted({r["horizon"] for r in rows})]:
        sel = [r for r in rows if r["horizon"] == horizon and group in ("all", r["group"])]
        base = np.mean([r["scale"]["ms"] for r in sel])
        for name in ("scale", "sf_autoets", "sf_mstl"):
            vals = [r[name] for r in sel if r.get(name) and "failed" not in r[name]]
            failed = [r["series"] for r in sel if r.get(name) and "failed" in r[name]]
            if failed:
                print(f"| {group} | {horizon} | {len(failed)} | {name} FAILED on {', '.join(failed)} | | | | | |")
            if not vals:
                continue
            ms = np.mean([v["ms"] for v in vals])
            label = "SCALE selected (out of sample)" if name == "scale" else name
            print(f"| {group} | {horizon} | {len(vals)} | {label} | {np.mean([v['mase'] for v in vals]):.3f} | "
                  f"{np.mean([v['cov80'] for v in vals]):.3f} | {np.mean([v['cov95'] for v in vals]):.3f} | "
                  f"{ms:.2f} ms | {ms / base:.1f}× |")
    print("\nSame series only (where every model ran):")
    for horizon in sorted({r["horizon"] for r in rows}):
        ok = [r for r in rows if r["horizon"] == horizon and all(r.get(n) and "failed" not in r[n] for n in ("sf_autoets", "sf_mstl"))]
        if ok:
            means = {n: np.mean([r[n]["mase"] for r in ok]) for n in ("scale", "sf_autoets", "sf_mstl")}
            print(f"  h={horizon}: {len(ok)} series, mean MASE " + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    picks = {}
    for r in rows:
        picks[r["selected"]] = picks.get(r["selected"], 0) + 1
    print(f"\nSCALE selections: {picks}")


if __name__ == "__main__":
    main()
