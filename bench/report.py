#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
"""Turn bench/run.sh's figures into the markdown table and the chart.

report.py RESULTS.tsv OUTDIR DATE MACHINE W1_MB W4_MB W5_MB W6_MB
          SMALL_FILES MAX_DIRTY CACHE_SIZE BOUND
"""

import os
import subprocess
import sys


def size_mb(s):
    units = {"K": 1 / 1024, "M": 1, "G": 1024}
    return float(s[:-1]) * units[s[-1]] if s[-1] in units else float(s) / 2**20


def main(argv):
    (results, outdir, date, machine, w1_mb, w4_mb, w5_mb, w6_mb,
     small_files, max_dirty, cache_size, bound) = argv[1:13]
    fig = {}
    extra = {}
    for line in open(results):
        system, what, value, other = line.rstrip("\n").split("\t")
        fig[(system, what)] = float(value)
        extra[(system, what)] = float(other)

    put = max(fig[("ceiling", "put-c%d" % c)] for c in (1, 8, 32))
    get = max(fig[("ceiling", "get-c%d" % c)] for c in (1, 8, 32))
    raw_cpu_put = extra[("ceiling", "put-c32")]
    raw_cpu_get = extra[("ceiling", "get-c32")]

    def f(system, w):
        return fig.get((system, w))

    def timed_out(system, w):
        return (system, w + "-timeout") in fig

    rows = []

    def ratio(a, b):
        return "%.2f" % (a / b) if a and b else "n/a"

    # W1, W2: MiB/s and blocks/s against the PUT/GET ceiling.
    for w, ceil, label in (("W1", put, "PUT"), ("W2", get, "GET")):
        s, p = f("s3blocks", w), f("S3", w)
        rows.append((
            "%s %s %s MiB (%s)" % (w, "write" if w == "W1" else "read", w1_mb,
                                   "nbdcopy --flush" if w == "W1"
                                   else "nbdcopy, cmp"),
            "%.1f MiB/s = %.0f blocks/s" % (s, s * 256),
            "%.1f MiB/s = %.0f blocks/s%s" % (p, p * 256,
                                              " (timed out)" if timed_out("S3", w) else ""),
            ratio(s, p),
            "%s of %s ceiling %.0f/s" % (ratio(s * 256, ceil), label, ceil)))
    s, p = f("s3blocks", "W3"), f("S3", "W3")
    rows.append(("W3 random 4 KiB reads (fio nbd, iodepth 32)",
                 "%.0f IOPS" % s, "%.0f IOPS" % p, ratio(s, p),
                 "%s of GET ceiling" % ratio(s, get)))
    s = f("s3blocks", "W3-nocache")
    rows.append(("W3 again, s3blocks with cache-size=0",
                 "%.0f IOPS" % s, "", ratio(s, p),
                 "%s of GET ceiling" % ratio(s, get)))
    s, p, m = f("s3blocks", "W4"), f("S3", "W4"), f("memory", "W4")
    rows.append(("W4 read never-written %s MiB (nbdcopy to null:)" % w4_mb,
                 "%.0f MiB/s" % s, "%.2f MiB/s (30 s sample)" % p,
                 ratio(s, p), "%s of memory plugin (%.0f MiB/s)" % (ratio(s, m), m)))
    s, p = f("s3blocks", "W5"), f("S3", "W5")
    s_to, p_to = extra[("s3blocks", "W5")], extra[("S3", "W5")]
    rows.append(("W5 ext4 on %s MiB: mkfs, %s small + 3x16 MiB files, sync, umount"
                 % (w5_mb, small_files),
                 "%.1f s%s" % (s, " (timed out)" if s_to else ""),
                 "%s%.1f s%s" % (">" if p_to else "", p, " (timed out)" if p_to else ""),
                 "%.1fx faster%s" % (p / s, " at least" if p_to else ""), ""))
    s, p = f("s3blocks", "W6"), f("S3", "W6")
    bound_mb = size_mb(max_dirty) + size_mb(cache_size) + 64
    rows.append(("W6 peak RSS writing %s MiB without flush" % w6_mb,
                 "%.0f MiB" % s, "%.0f MiB" % p, ratio(s, p),
                 "target <= %.0f MiB (max-dirty %s + cache %s + 64M): %s"
                 % (bound_mb, max_dirty, cache_size,
                    "met" if s <= bound_mb else "MISSED")))

    cpu_w1 = extra[("s3blocks", "W1")]
    cpu_w2 = extra[("s3blocks", "W2")]
    peer_cpu_w1 = extra[("S3", "W1")]
    peer_cpu_w2 = extra[("S3", "W2")]

    lines = []
    lines.append("Measured %s on %s." % (date, machine))
    lines.append("")
    lines.append("| workload | s3blocks | nbdkit S3 plugin | s3blocks / S3 plugin | s3blocks vs limit |")
    lines.append("| --- | --- | --- | --- | --- |")
    for r in rows:
        lines.append("| " + " | ".join(r) + " |")
    lines.append("")
    lines.append("Raw server ceiling (libs3 request context, 4 KiB objects): "
                 + ", ".join("PUT c=%d %.0f/s" % (c, fig[("ceiling", "put-c%d" % c)])
                             for c in (1, 8, 32))
                 + "; "
                 + ", ".join("GET c=%d %.0f/s" % (c, fig[("ceiling", "get-c%d" % c)])
                             for c in (1, 8, 32)) + ".")
    lines.append("")
    lines.append("CPU per 4 KiB block (nbdkit process): s3blocks W1 %.0f us, W2 %.0f us; "
                 "nbdkit S3 plugin W1 %.0f us, W2 %.0f us; raw libs3 client "
                 "PUT %.0f us, GET %.0f us per request."
                 % (cpu_w1 * 1e6, cpu_w2 * 1e6, peer_cpu_w1 * 1e6,
                    peer_cpu_w2 * 1e6, raw_cpu_put * 1e6, raw_cpu_get * 1e6))
    table = "\n".join(lines) + "\n"
    with open(os.path.join(outdir, "table.md"), "w") as t:
        t.write(table)
    print(table)

    # Chart: requests/s against concurrency, raw and s3blocks.
    data = os.path.join(outdir, "concurrency.dat")
    with open(data, "w") as d:
        d.write("# concurrency raw_put raw_get s3blocks_put s3blocks_get\n")
        for c in (1, 8, 32):
            d.write("%d %.1f %.1f %.1f %.1f\n" % (
                c, fig[("ceiling", "put-c%d" % c)], fig[("ceiling", "get-c%d" % c)],
                fig[("sweep", "put-c%d" % c)], fig[("sweep", "get-c%d" % c)]))
    png = os.path.join(outdir, "throughput.png")
    script = """
set terminal pngcairo size 800,480 font ",11"
set output '%s'
set title "4 KiB objects per second against requests in flight (%s)"
set xlabel "requests in flight (raw: libs3 context; s3blocks: max-requests=)"
set ylabel "objects per second"
set logscale x 2
set xtics (1, 8, 32)
set key left top
set grid
plot '%s' using 1:2 with linespoints lw 2 title "raw PUT", \\
     '' using 1:3 with linespoints lw 2 title "raw GET", \\
     '' using 1:4 with linespoints lw 2 dt 2 title "s3blocks write+flush (W1)", \\
     '' using 1:5 with linespoints lw 2 dt 2 title "s3blocks read (W2)"
""" % (png, date, data)
    try:
        subprocess.run(["gnuplot"], input=script.encode(), check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("report: no chart: %s" % e, file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
