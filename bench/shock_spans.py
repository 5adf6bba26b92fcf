#!/usr/bin/env python3
"""Fault-free Nezha spans with a seeded random fraction "shocked": Duration becomes
(d + 10 ms) x U(8, 10) and EndTimeUnixNano follows. Writes the input columns plus `label`
(1 = shocked). Standard library only; reads plain or .xz CSV.

    python3 bench/shock_spans.py --output /tmp/shocked.csv \
        /work/shared/datasets/nezha/nezha-onlineboutique/2022-08-23_17_00_construct_trace.csv.xz
"""
import argparse
import csv
import lzma
import random
import sys


def open_text(path):
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\xfd7zXZ\x00":
        return lzma.open(path, "rt", newline="")
    return open(path, newline="")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inputs", nargs="+", help="Nezha span CSVs (Duration in microseconds)")
    ap.add_argument("--output", required=True)
    ap.add_argument("--fraction", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    header = None
    rows = []
    for path in args.inputs:
        with open_text(path) as f:
            r = csv.reader(f)
            h = next(r)
            if header is None:
                header = h
            elif h != header:
                sys.exit(f"{path}: header {h} differs from {header}")
            rows.extend(r)
    dur = header.index("Duration")
    start = header.index("StartTimeUnixNano")
    end = header.index("EndTimeUnixNano") if "EndTimeUnixNano" in header else None
    n = len(rows)
    shocked = set(rng.sample(range(n), round(args.fraction * n)))
    with open(args.output, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header + ["label"])
        for i, row in enumerate(rows):
            label = 0
            if i in shocked:
                d = int(row[dur])
                new = round((d + 10_000) * rng.uniform(8.0, 10.0))
                row[dur] = str(new)
                if end is not None:
                    row[end] = str(int(row[start]) + new * 1000)
                label = 1
            w.writerow(row + [label])
    print(f"wrote {n} spans, {len(shocked)} shocked, to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
