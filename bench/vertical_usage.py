#!/usr/bin/env python3
"""Container usage for `scale evaluate --vertical` from NAB's CPU series (docs/evaluate.md).

CPU: NAB's CloudWatch utilisation (percent) as the usage of a 4-core container, cores =
value / 100 * 4. Memory is generated, since NAB has none: 512 MiB of base, plus 256 MiB per
core of the 6-hour moving average of CPU (a heap that follows load slowly), plus a 64 MiB
sawtooth every 2 hours (caches filled, then dropped).

    python3 bench/vertical_usage.py --output DIR ../shared/datasets/nab/realAWSCloudwatch/*cpu*.csv
"""
import argparse
import csv
import os


def convert(src, dst, cores):
    ema = None
    alpha = None
    prev = None
    with open(src) as f, open(dst, "w") as out:
        out.write("timestamp,cpu,memory\n")
        for i, row in enumerate(csv.DictReader(f)):
            cpu = float(row["value"]) / 100.0 * cores
            step = 300.0
            if alpha is None:
                alpha = step / (6 * 3600)
            ema = cpu if ema is None else ema + alpha * (cpu - ema)
            saw = ((i * step) % 7200) / 7200 * 64
            mem = (512 + 256 * ema + saw) * 2**20
            out.write(f"{row['timestamp']},{cpu:.6f},{mem:.0f}\n")
            prev = row
    return prev is not None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", required=True, help="directory for the usage CSVs")
    ap.add_argument("--cores", type=float, default=4.0, help="cores at 100%% utilisation")
    ap.add_argument("inputs", nargs="+", help="NAB CSVs (timestamp,value; 5-minute steps)")
    a = ap.parse_args()
    os.makedirs(a.output, exist_ok=True)
    for src in a.inputs:
        dst = os.path.join(a.output, os.path.basename(src))
        if convert(src, dst, a.cores):
            print(dst)


if __name__ == "__main__":
    main()
