#!/usr/bin/env python3
"""Where a keep-alive request's CPU goes on the proxy's side of the kernel, per proxy, in one run.

Each proxy is pinned to CPU 0, the upstreams and h2load to CPU 1 (as bench.py does). Rounds are
interleaved (every proxy once, then again). For each run of exactly --requests keep-alive GETs
of /small at --conns connections it reads, per thread of the proxy, from /proc:
  - schedstat: nanoseconds on the CPU (exact, unlike utime/stime ticks), nanoseconds waiting
    to run, and how many times the thread was scheduled in;
  - stat: utime and stime ticks (the user/kernel split; 1/100 s resolution);
  - status: voluntary and involuntary context switches;
and prints per request: CPU µs (user / kernel), times scheduled, context switches, run delay,
plus which threads spent it, and each Portico binary's CPU per request against each other
proxy's in the same round (median of the per-round ratios, their middle half, and in how many
rounds Portico spent less: on a machine whose speed drifts by tens of percent from minute to
minute, runs seconds apart are what can be compared). With --perf, one more run per proxy under `perf record -e
cpu-clock -g` (a software clock: hardware counters are not needed) gives the share of
samples in the kernel and the kernel functions with the most samples (self). With
--syscalls, one more run per proxy counts its system calls by name (perf stat on the
kernel's syscalls:sys_enter_* tracepoints: nothing stops the proxy, as strace would).

These are timings on a shared machine: read the spread over rounds and the load average
printed at the start and the end."""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
import load  # noqa: E402
import procs  # noqa: E402
import proxies  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def thread_sample(pids):
    """{(pid, tid): dict} of the counters of every thread of the given processes."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            base = f"/proc/{pid}/task/{tid}"
            try:
                run_ns, wait_ns, slices = (int(x) for x in open(f"{base}/schedstat").read().split())
                stat = open(f"{base}/stat").read()
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                f = stat.rsplit(")", 1)[1].split()
                st = {k: int(v) for k, v in
                      (ln.split(":") for ln in open(f"{base}/status") if "ctxt_switches" in ln)}
            except (OSError, ValueError):
                continue
            out[(pid, int(tid))] = {"name": name, "run_ns": run_ns, "wait_ns": wait_ns,
                                    "slices": slices, "utime": int(f[11]), "stime": int(f[12]),
                                    "vcs": st.get("voluntary_ctxt_switches", 0),
                                    "ivcs": st.get("nonvoluntary_ctxt_switches", 0)}
    return out


def diff(before, after):
    keys = ("run_ns", "wait_ns", "slices", "utime", "stime", "vcs", "ivcs")
    total = dict.fromkeys(keys, 0)
    by_thread = {}
    for k, a in after.items():
        b = before.get(k, dict.fromkeys(keys, 0))
        d = {x: a[x] - b[x] for x in keys}
        for x in keys:
            total[x] += d[x]
        by_thread[a["name"]] = by_thread.get(a["name"], 0) + d["run_ns"]
    return total, by_thread


def send(port, conns, count):
    ok, _ = load.run_h2load_count(f"http://127.0.0.1:{port}/small", proxies.HOST, conns, count,
                                  cpus="1")
    return ok


def perf_profile(pids, port, conns, count, work, name):
    data = os.path.join(work, f"{name}.perf.data")
    argv = ["perf", "record", "-q", "-e", "cpu-clock", "-g", "-o", data, "-p",
            ",".join(str(p) for p in pids)]
    rec = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    send(port, conns, count)
    rec.send_signal(2)
    rec.wait(60)
    rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                          "--sort", "sym", "-g", "none", "--percent-limit", "0.7"],
                         capture_output=True, text=True, timeout=300).stdout
    kernel, rows = 0.0, []
    for line in rep.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[(k|\.)\]\s+(.+)$", line)
        if not m:
            continue
        pct, where, sym = float(m.group(1)), m.group(2), m.group(3).strip()
        rows.append((pct, where, sym))
    # The kernel share over all samples (not only the listed ones).
    rep_all = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children",
                              "--sort", "dso", "-g", "none"],
                             capture_output=True, text=True, timeout=300).stdout
    for line in rep_all.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[kernel", line)
        if m:
            kernel += float(m.group(1))
    return kernel, rows


def syscall_counts(pids, port, conns, count):
    """(requests, {syscall: calls}) over one run of count requests, from the kernel's
    syscalls:sys_enter_* tracepoints (perf stat: counted in the kernel, no strace stops)."""
    argv = ["perf", "stat", "-x", ",", "-e", "syscalls:sys_enter_*",
            "-e", "syscalls:sys_exit_recvfrom", "--filter", "ret < 0", "-p",
            ",".join(str(p) for p in pids)]
    rec = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    ok = send(port, conns, count)
    rec.send_signal(2)
    _, err = rec.communicate(timeout=60)
    out = {}
    for line in err.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].isdigit() and f[2] == "syscalls:sys_exit_recvfrom":
            out["recvfrom failed (EAGAIN)"] = int(f[0])  # (not added to the total)
        elif len(f) > 2 and f[0].isdigit() and f[2].startswith("syscalls:sys_enter_"):
            n = int(f[0])
            if n:
                out[f[2][len("syscalls:sys_enter_"):]] = n
    return ok, out


def one_run(name, opts, work, addrs, conns, count, profile):
    port = procs.free_port()
    opts = dict(opts, admin_port=procs.free_port())
    sp = proxies.BUILDERS[name](work, port, addrs, opts)
    p = procs.proc(name, sp.argv, env=sp.env, cpus="0", log=os.path.join(work, f"{name}.log"))
    try:
        procs.wait_ready(port, proxies.HOST, timeout=60)
        send(port, conns, 2000)  # warm-up: connections pooled, caches warm
        pids = p.tree()
        if profile == "perf":
            return perf_profile(pids, port, conns, count, work, name)
        if profile == "syscalls":
            return syscall_counts(pids, port, conns, count)
        before = thread_sample(pids)
        ok = send(port, conns, count)
        after = thread_sample(p.tree())
        total, by_thread = diff(before, after)
        return ok, total, by_thread
    finally:
        p.stop()


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def print_ratios(runs, per_round):
    """Each Portico binary against each other proxy, round by round: the rounds are interleaved,
    so a ratio within a round compares runs a few seconds apart, under the same load of the
    shared machine; its median over the rounds, the middle half of them, and in how many rounds
    Portico spent less."""
    ours = [label for label, name, _ in runs if name == "portico"]
    others = [label for label, name, _ in runs if name != "portico"]
    rows = []
    for a_ in ours:
        for b in others:
            rat = sorted(v[a_] / v[b] for v in per_round.values() if a_ in v and b in v)
            if rat:
                n = len(rat)
                rows.append(f"| {a_} / {b} | {statistics.median(rat):.3f} | "
                            f"{rat[n // 4]:.2f}–{rat[(3 * n) // 4]:.2f} | "
                            f"{sum(x < 1 for x in rat)} of {n} |")
    if rows:
        print("\nCPU per request, ratio within each round:\n")
        print("| ratio | median | middle half | rounds below 1 |")
        print("|---|---|---|---|")
        print("\n".join(rows), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build-dir", default="build/release")
    ap.add_argument("--proxies", default="portico,nginx-lean,haproxy-lean")
    ap.add_argument("--portico-variant", action="append", default=[], metavar="LABEL=BINARY",
                    help="also measure this portico binary under LABEL")
    ap.add_argument("--requests", type=int, default=50000)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--perf", action="store_true", help="also one perf record run per proxy")
    ap.add_argument("--syscalls", action="store_true",
                    help="also one run per proxy counting system calls (perf stat on the "
                         "syscalls:sys_enter_* tracepoints)")
    a = ap.parse_args()
    load.raise_nofile(65536)
    work = tempfile.mkdtemp(prefix="portico-kernel-")
    ups = procs.upstreams(a.build_dir, cpus="1")
    addrs = [u for _, u in ups]
    portico = os.path.join(a.build_dir, "proxy", "portico")
    runs = [(n, n, portico) for n in a.proxies.split(",") if proxies.available(n)]
    for v in a.portico_variant:
        label, _, binary = v.partition("=")
        runs.append((label, "portico", os.path.abspath(binary)))
    print(f"load average at start: {' '.join(loadavg())}; {a.requests} requests, "
          f"{a.conns} connections, {a.rounds} rounds", flush=True)
    results = {label: [] for label, _, _ in runs}
    per_round = {}  # round -> {label: µs/req}
    try:
        for r in range(a.rounds):
            for label, name, binary in runs:
                ok, total, by_thread = one_run(name, {"portico_bin": binary}, work, addrs,
                                               a.conns, a.requests, None)
                if not ok:
                    print(f"{label}: no request succeeded", flush=True)
                    continue
                results[label].append((ok, total, by_thread))
                per_round.setdefault(r, {})[label] = total["run_ns"] / 1e3 / ok
                busy = ", ".join(f"{t} {ns / 1e3 / ok:.2f}" for t, ns in
                                 sorted(by_thread.items(), key=lambda kv: -kv[1])[:3])
                print(f"round {r + 1} {label}: {total['run_ns'] / 1e3 / ok:.2f} µs/req "
                      f"(threads: {busy})", flush=True)
        print(f"load average at end: {' '.join(loadavg())}\n")
        print("| proxy | CPU µs/req (min–max) | user : kernel | scheduled in /req | "
              "voluntary cs /req | involuntary cs /req | run delay µs/req |")
        print("|---|---|---|---|---|---|---|")
        for label, rs in results.items():
            if not rs:
                continue
            us = sorted(t["run_ns"] / 1e3 / ok for ok, t, _ in rs)
            med = us[len(us) // 2]
            n = sum(ok for ok, _, _ in rs)
            tot = {k: sum(t[k] for _, t, _ in rs) for k in rs[0][1]}
            ticks = tot["utime"] + tot["stime"]
            split = f"{100 * tot['utime'] / ticks:.0f} : {100 * tot['stime'] / ticks:.0f}" \
                if ticks else "–"
            print(f"| {label} | {med:.2f} ({us[0]:.2f}–{us[-1]:.2f}) | {split} | "
                  f"{tot['slices'] / n:.3f} | {tot['vcs'] / n:.3f} | {tot['ivcs'] / n:.3f} | "
                  f"{tot['wait_ns'] / 1e3 / n:.2f} |", flush=True)
        print_ratios(runs, per_round)
        if a.perf:
            for label, name, binary in runs:
                kernel, rows = one_run(name, {"portico_bin": binary}, work, addrs, a.conns,
                                       a.requests, "perf")
                print(f"\n{label}: {kernel:.1f}% of cpu-clock samples in the kernel; "
                      "functions with the most samples (self):")
                for pct, where, sym in rows[:25]:
                    print(f"  {pct:5.2f}% [{'k' if where == 'k' else 'u'}] {sym}")
        if a.syscalls:
            counts = {}
            for label, name, binary in runs:
                ok, c = one_run(name, {"portico_bin": binary}, work, addrs, a.conns,
                                a.requests, "syscalls")
                counts[label] = {k: v / ok for k, v in c.items()} if ok else {}
            names = sorted({k for c in counts.values() for k, v in c.items() if v >= 0.005},
                           key=lambda k: -max(c.get(k, 0) for c in counts.values()))
            print("\nsystem calls per request (one run each):\n")
            print("| syscall | " + " | ".join(counts) + " |")
            print("|---|" + "---|" * len(counts))
            for k in names:
                print(f"| {k} | " + " | ".join(f"{c.get(k, 0):.3f}" for c in counts.values())
                      + " |")
            print("| total | " + " | ".join(
                f"{sum(v for k, v in c.items() if not k.startswith('recvfrom failed')):.3f}"
                for c in counts.values()) + " |", flush=True)
    finally:
        for u, _ in ups:
            u.stop()


if __name__ == "__main__":
    main()
