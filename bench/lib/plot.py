"""The PNG plot: req/s (left) and p99 latency (right) per scenario and proxy (gnuplot)."""
import os
import shutil
import subprocess

import report

PLOT_CASES = ["keepalive-64", "keepalive-256", "newconn-64", "fixed-rate", "hosts",
              "churn", "tls-handshake", "tls-keepalive-64", "h2-c1-m100", "h2-c64-m10",
              "grpc-c1-m100", "grpc-c64-m10"]


def plot(results, names, png):
    """Writes `png` (and its .dat/.gp beside it); returns False when gnuplot is missing."""
    if not shutil.which("gnuplot"):
        return False
    cols = [n for n in report.PEERS_ORDER if n in names]
    cases = []
    for want in PLOT_CASES:
        cases += [c for c in sorted(results) if c == want or
                  (want == "hosts" and c.startswith("hosts-"))]
    base = os.path.splitext(png)[0]
    for metric, fname in (("rps", base + "-rps.dat"), ("p99", base + "-p99.dat")):
        with open(fname, "w") as f:
            f.write("case " + " ".join(cols) + "\n")
            for c in cases:
                if metric == "rps" and c == "fixed-rate":
                    continue  # offered rate: the same for all
                vals = []
                for n in cols:
                    v = report.med(results[c].get(n, []), metric)[0]
                    vals.append("NaN" if v is None else f"{v:.3f}")
                if any(v != "NaN" for v in vals):
                    f.write(f"{c} " + " ".join(vals) + "\n")
    ncol = len(cols)
    gp = f"""\
set terminal pngcairo size 1600,650 font "sans,10"
set output "{png}"
set multiplot layout 1,2 title "Portico vs peers (medians)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set grid ytics
set xtics rotate by -30
set datafile missing "NaN"
set title "throughput (req/s, higher is better)"
set yrange [0:*]
plot for [i=2:{ncol + 1}] "{base}-rps.dat" using i:xtic(1) title columnheader(i)
set title "p99 latency (ms, lower is better)"
set logscale y
set yrange [*:*]
plot for [i=2:{ncol + 1}] "{base}-p99.dat" using i:xtic(1) title columnheader(i)
unset multiplot
"""
    with open(base + ".gp", "w") as f:
        f.write(gp)
    r = subprocess.run(["gnuplot", base + ".gp"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        print(f"bench: gnuplot failed: {r.stderr.strip()}")
        return False
    return True
