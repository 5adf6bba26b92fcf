#!/usr/bin/env python3
"""Side by side: River's HalfSpaceTrees vs `scale sample` on the same labelled spans
(from bench/shock_spans.py). Same parameters for both; the protocol for both is: the first
`train_size` spans are learned without scoring; each later span is scored, then learned.
Metrics (precision, recall, F1 of `score >= min_score` against `label`) cover spans after
warm-up. Times exclude I/O on both sides: River's is its score_one + learn_one loop over
feature dicts built beforehand; SCALE's is the scoring loop `scale sample --stats` reports
(`us_per_span`), which also covers what River gets precomputed (vocabulary lookup, operation-name
normalisation, the duration feature). Both are wall time per span over the same spans.

    $(bash bench/setup_venv.sh)/bin/python bench/compare_river.py --spans /tmp/shocked.csv
"""
import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

from river import anomaly

POD = re.compile(r"^(.*)-[a-z0-9]{6,10}-[a-z0-9]{5}$")


def service_of(row):
    if row.get("ServiceName"):
        return row["ServiceName"]
    m = POD.match(row["PodName"])
    return m.group(1) if m else row["PodName"]


def prf(labels, predicted):
    tp = sum(1 for y, p in zip(labels, predicted) if y and p)
    fp = sum(1 for y, p in zip(labels, predicted) if not y and p)
    fn = sum(1 for y, p in zip(labels, predicted) if y and not p)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1


def best_f1(labels, scores):
    """Best F1 over every threshold (the detector's ranking quality, threshold-free)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    pos = sum(labels)
    tp = fp = 0
    best = (0.0, 1.0)
    for k, i in enumerate(order):
        tp += labels[i]
        fp += 1 - labels[i]
        if k + 1 < len(order) and scores[order[k + 1]] == scores[i]:
            continue
        f1 = 2 * tp / (tp + fp + pos) if pos else 0.0
        if f1 > best[0]:
            best = (f1, scores[i])
    return best


def duration_feature(seconds, a, op_log=None, endpoint=None):
    """The same [0, 1] duration feature `scale sample --duration-scale` computes (op-log: the
    slow side of ln(1 + d/1ms) against the endpoint's usual, kept in `op_log`, over ln 100, as
    in src/sample/mod.rs: a plain mean for its first 1024 spans, then moving)."""
    if a.duration_scale == "op-log":
        l = math.log1p(max(seconds, 0.0) * 1e3)
        mean, n = op_log.get(endpoint, (l, 0))
        n += 1
        op_log[endpoint] = (mean + (l - mean) / min(n, 1024), n)
        v = max(l - mean, 0.0) / math.log(100.0)
    elif a.duration_scale == "log":
        v = math.log1p(max(seconds, 0.0) * 1e3) / math.log1p(a.max_duration * 1e3)
    else:
        v = seconds / a.max_duration
    return min(max(v, 0.0), 1.0)


def run_river(rows, services, operations, a, seed):
    feats = []
    op_log = {}
    for r in rows:
        x = {f"svc={s}": 0.0 for s in services}
        x.update({f"op={o}": 0.0 for o in operations})
        x[f"svc={r['svc']}"] = 1.0
        x[f"op={r['OperationName']}"] = 1.0
        x["duration"] = duration_feature(float(r["Duration"]) / a.unit, a, op_log, (r["svc"], r["OperationName"]))
        feats.append(x)
    hst = anomaly.HalfSpaceTrees(n_trees=a.n_trees, height=a.height, window_size=a.window_size, seed=seed)
    scores = []
    t0 = time.perf_counter()
    for i, x in enumerate(feats):
        if i < a.train_size:
            scores.append(0.0)
        else:
            scores.append(hst.score_one(x))
        hst.learn_one(x)
    return scores, (time.perf_counter() - t0) / len(feats) * 1e6


def run_scale(a, seed):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "scored.csv")
        stats = os.path.join(d, "stats.json")
        cmd = [a.scale, "sample", "--input", a.spans, "--output", out,
               "--n-trees", str(a.n_trees), "--height", str(a.height),
               "--window-size", str(a.window_size), "--min-score", str(a.min_score),
               "--max-duration", str(a.max_duration), "--duration-scale", a.duration_scale,
               "--split-weight", a.split_weight, "--train-size", str(a.train_size),
               "--seed", str(seed), "--stats", stats]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"scale sample failed: {p.stderr}")
        with open(stats) as f:
            us = json.load(f)["us_per_span"]
        with open(out, newline="") as f:
            scores = [float(r["score"]) for r in csv.DictReader(f)]
    return scores, us


def f1_after(labels, sampled, start):
    return prf(labels[start:], sampled[start:])


def seed_protocol(a):
    """River as the seed ran it (sparse dicts, limits, learn then only score) and the same with
    dense dicts (every one-hot key present, the earlier benchmark's protocol), beside
    `scale sample --seed-compat` and `scale sample` with no flags, on the same file."""
    with open(a.spans, newline="") as f:
        rows = list(csv.DictReader(f))
    labels = [int(r["label"]) for r in rows]
    services = sorted({service_of(r) for r in rows})
    operations = sorted({r["OperationName"] for r in rows})
    sparse = [{service_of(r): 1, r["OperationName"]: 1, "duration": float(r["Duration"]) / a.unit * 1e3} for r in rows]
    dense = []
    for x in sparse:
        d = {k: 0 for k in services}
        d.update({k: 0 for k in operations})
        d.update(x)
        dense.append(d)
    out = {}
    river_us = None
    repeat = max(a.repeat, 1)
    for name, xs in [("river_seed_sparse", sparse), ("river_seed_dense", dense)]:
        us = None
        for _ in range(repeat):
            hst = anomaly.HalfSpaceTrees(n_trees=16, height=8, window_size=175, seed=int(a.seeds.split(",")[0]),
                                         limits={"duration": (0.0, 10_000.0)})
            for x in xs[: a.train_size]:
                hst.learn_one(x)
            t0 = time.perf_counter()
            scores = [hst.score_one(x) for x in xs[a.train_size :]]
            t = (time.perf_counter() - t0) / len(scores) * 1e6
            us = t if us is None else min(us, t)
        river_us = river_us or us
        sampled = [False] * a.train_size + [s >= 0.6 for s in scores]
        out[name] = (f1_after(labels, sampled, a.train_size)[2], us, None)
    warm = int(0.15 * len(rows))
    for name, extra, start in [("scale_seed_compat", ["--seed-compat", "--train-size", str(a.train_size)], a.train_size),
                               ("scale_defaults", [], warm)]:
        wall = loop = None
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as d:
                o = os.path.join(d, "o.csv")
                st = os.path.join(d, "stats.json")
                t0 = time.perf_counter()
                p = subprocess.run([a.scale, "sample", "--input", a.spans, "--output", o, "--stats", st] + extra,
                                   capture_output=True, text=True)
                t = (time.perf_counter() - t0) / len(rows) * 1e6
                if p.returncode != 0:
                    sys.exit(f"scale sample failed: {p.stderr}")
                with open(o, newline="") as f:
                    smp = [r["sampled"] == "true" for r in csv.DictReader(f)]
                with open(st) as f:
                    lt = json.load(f)["us_per_span"]
            wall = t if wall is None else min(wall, t)
            loop = lt if loop is None else min(loop, lt)
        out[name] = (f1_after(labels, smp, start)[2], wall, loop)
    print(f"spans={len(rows)} train_size={a.train_size} (seed protocol) warm-up for defaults={warm}; "
          f"times: fastest of {repeat} run(s) per detector")
    print("| detector | F1 | µs/span | River sparse loop ÷ this | scoring loop µs/span | River sparse loop ÷ loop |")
    print("|---|---|---|---|---|---|")
    for k, (f1, us, loop) in out.items():
        kind = "score_one loop" if k.startswith("river") else "whole process"
        tail = f"{loop:.3f} | {river_us / loop:.0f}×" if loop else "— | —"
        print(f"| {k} ({kind}) | {f1:.3f} | {us:.2f} | {river_us / us:.1f}× | {tail} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed-protocol", action="store_true",
                    help="River with sparse dicts as the seed ran it, vs --seed-compat and the defaults")
    ap.add_argument("--spans", required=True)
    ap.add_argument("--scale", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "debug", "scale"))
    ap.add_argument("--n-trees", type=int, default=10)
    ap.add_argument("--height", type=int, default=8)
    ap.add_argument("--window-size", type=int, default=250)
    ap.add_argument("--min-score", type=float, default=0.9)
    ap.add_argument("--max-duration", type=float, default=1.0, help="seconds")
    ap.add_argument("--train-size", type=int, default=1000)
    ap.add_argument("--duration-scale", choices=["log", "linear", "op-log"], default="log")
    ap.add_argument("--split-weight", choices=["dimension", "group"], default="dimension",
                    help="SCALE only: River has no such option (it always weighs by dimension)")
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each detector this many times per seed (fresh model, same seed, so the "
                         "same scores) and keep the fastest time: on a shared machine this drops runs "
                         "slowed by other processes, for both sides alike")
    a = ap.parse_args()
    a.unit = 1e6  # Nezha Duration is in microseconds
    if a.seed_protocol:
        return seed_protocol(a)
    with open(a.spans, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["svc"] = service_of(r)
    services = sorted({r["svc"] for r in rows})
    operations = sorted({r["OperationName"] for r in rows})
    labels = [int(r["label"]) for r in rows][a.train_size:]
    print(f"{len(rows)} spans, {sum(int(r['label']) for r in rows)} shocked, "
          f"{len(services)} services, {len(operations)} operations; metrics over {len(labels)} spans after warm-up")
    print(f"times: fastest of {max(a.repeat, 1)} run(s) per seed and detector")
    print(f"params: n_trees={a.n_trees} height={a.height} window_size={a.window_size} "
          f"min_score={a.min_score} max_duration={a.max_duration}s train_size={a.train_size} "
          f"duration_scale={a.duration_scale} split_weight(SCALE)={a.split_weight}")
    print("| seed | detector | precision | recall | F1 | best F1 (threshold) | µs/span |")
    print("|---|---|---|---|---|---|---|")
    totals = {"river": [], "scale": []}
    for seed in [int(s) for s in a.seeds.split(",")]:
        runs = {"river": lambda: run_river(rows, services, operations, a, seed), "scale": lambda: run_scale(a, seed)}
        for name, run in runs.items():
            results = [run() for _ in range(max(a.repeat, 1))]
            scores = results[0][0]
            if any(r[0] != scores for r in results):
                sys.exit(f"{name}: scores differ between repeats with seed {seed}")
            us = min(r[1] for r in results)
            s = scores[a.train_size:]
            p, r, f1 = prf(labels, [x >= a.min_score for x in s])
            bf, bt = best_f1(labels, s)
            totals[name].append((p, r, f1, bf, us))
            print(f"| {seed} | {name} | {p:.3f} | {r:.3f} | {f1:.3f} | {bf:.3f} ({bt:.3f}) | {us:.3f} |")
    for name, t in totals.items():
        m = [sum(c) / len(t) for c in zip(*t)]
        print(f"| mean | {name} | {m[0]:.3f} | {m[1]:.3f} | {m[2]:.3f} | {m[3]:.3f} | {m[4]:.3f} |")
    ratio = (sum(t[4] for t in totals["river"]) / sum(t[4] for t in totals["scale"]))
    print(f"speed-up (River µs/span ÷ SCALE µs/span, same run): {ratio:.0f}x")


if __name__ == "__main__":
    main()
