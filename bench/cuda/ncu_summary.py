#!/usr/bin/env python3
# Summarises `ncu --csv --page raw` output of one decode step (bench_cuda_decode_layer with GLMQ_PROFILE_DECODE=1):
# per kernel the launches, total and mean µs, MB read from DRAM and GB/s. Usage: ncu_summary.py file.csv...
import csv, re, sys
from collections import OrderedDict
scale = {"ns": 1e-3, "us": 1.0, "usecond": 1.0, "nsecond": 1e-3, "ms": 1e3, "msecond": 1e3}
bscale = {"byte": 1e-6, "Kbyte": 1e-3, "Mbyte": 1.0, "Gbyte": 1e3, "KB": 1e-3, "MB": 1.0, "B": 1e-6}
for path in sys.argv[1:]:
    rows = list(csv.reader(open(path)))
    start = next((i for i, r in enumerate(rows) if r and r[0] == "ID"), None)
    if start is None:
        print(path, "no kernels"); continue
    head, units, data = rows[start], rows[start + 1], rows[start + 2:]
    ki = head.index("Kernel Name"); ti = head.index("gpu__time_duration.sum"); bi = head.index("dram__bytes_read.sum")
    gi = head.index("launch__grid_size"); ri = head.index("launch__registers_per_thread")
    ts = scale.get(units[ti], 1e-3); bs = bscale.get(units[bi], 1e-6)
    fam = OrderedDict(); total = 0.0; total_b = 0.0
    for r in data:
        name = r[ki].replace("void ", "").replace("unnamed>::", "").replace("(anonymous namespace)::", "")
        short = re.sub(r"\(.*", "", name)[:60]
        t = float(r[ti].replace(",", "")) * ts
        b = float(r[bi].replace(",", "")) * bs
        total += t; total_b += b
        f = fam.setdefault(short, [0, 0.0, 0.0, r[gi], r[ri]]); f[0] += 1; f[1] += t; f[2] += b
    print(f"== {path}: {len(data)} kernels, {total:.1f} us, {total_b:.1f} MB read, {total_b / total * 1e3 if total else 0:.0f} GB/s")
    for k, (n, t, b, g, reg) in sorted(fam.items(), key=lambda kv: -kv[1][1]):
        print(f"  {k:60s} n={n:3d} {t:8.1f} us {t/n:7.1f} each {b:8.1f} MB {b / t * 1e3 if t else 0:6.0f} GB/s grid {g} regs {reg}")
