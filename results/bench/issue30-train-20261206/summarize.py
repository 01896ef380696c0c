#!/usr/bin/env python3
"""summarize.py: medians and paired ratios of raw.txt (run.sh's lines) as a Markdown table."""
import collections, re, statistics, sys

rows = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
for line in open(sys.argv[1] if len(sys.argv) > 1 else "raw.txt"):
    tag = line.split()[0]
    order.append(tag)
    for v, k in re.findall(r"([\d.]+) (best-images/s|images/s|cpu-ms/image|idle-fraction|cpu-GFLOP/s|GFLOP/s)", line):
        rows[tag][k].append(float(v))

print("| batch | metric | before (median) | after (median) | after/before | runs each | per-pair after/before |")
print("|---|---|---:|---:|---:|---:|---|")
for b in ("64", "512"):
    bt, at = rows["before-" + b], rows["after-" + b]
    for k in ("images/s", "cpu-ms/image", "best-images/s", "idle-fraction"):
        x, y = bt[k], at[k]
        pairs = " ".join(f"{q / p:.2f}" for p, q in zip(x, y))
        print(f"| {b} | {k} | {statistics.median(x):.4g} | {statistics.median(y):.4g} | "
              f"{statistics.median(y) / statistics.median(x):.3f} | {len(x)} | {pairs} |")
for t in ("sgemm-start", "sgemm-end"):
    r = rows[t]
    print(f"\n{t}: {r['GFLOP/s'][0]:.1f} GFLOP/s wall (2 single-threaded 1024^3 SGEMMs at once), {r['cpu-GFLOP/s'][0]:.1f} GFLOP per CPU second")
