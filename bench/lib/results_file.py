"""Writes bench/results/<date>.md (+ the plot) and, for full runs, bench/RESULTS.md."""
import datetime
import os
import platform
import re
import subprocess

import h2
import plot
import report
import scenarios

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The headline ratios kept in RESULTS.md's history: (case, label as in ratio_line).
HEADLINES = [("keepalive-64", "throughput"), ("keepalive-64", "CPU per request"),
             ("newconn-64", "CPU per request"), ("fixed-rate", "p99"), ("bodies-1MiB", "MB/s"),
             ("bodies-1MiB", "CPU per request"),
             ("idle", "RSS with idle connections"), ("hosts", "CPU per request"),
             ("churn", "failed requests"), ("churn", "p99"),
             ("tls-handshake", "CPU per request"), ("tls-keepalive-64", "throughput"),
             ("h2-c64-m10", "CPU per request"), ("grpc-c64-m10", "CPU per request"),
             ("keepalive-64", "CPU per request against lean peers"),
             ("newconn-64", "CPU per request against lean peers")]


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}"


def versions(names, build_dir, alt_build_dir=None):
    out = []
    cmds = {"nginx": ["nginx", "-v"], "haproxy": ["haproxy", "-v"], "caddy": ["caddy", "version"],
            "portico": [os.path.join(build_dir, "proxy", "portico"), "version"],
            "portico-alt": [os.path.join(alt_build_dir or build_dir, "proxy", "portico"), "version"],
            "wrk": ["wrk", "-v"], "h2load": ["h2load", "--version"]}
    for n in list(names) + ["wrk", "h2load"]:
        if n in ("nginx-lean", "haproxy-lean"):
            continue  # the same program as nginx / haproxy
        try:
            r = subprocess.run(cmds[n], capture_output=True, text=True, timeout=10)
            where = f" ({alt_build_dir})" if n == "portico-alt" else ""
            out.append(f"{n}{where}: {(r.stdout + r.stderr).strip().splitlines()[0]}")
        except (OSError, IndexError, subprocess.SubprocessError):
            out.append(f"{n}: unknown")
    return out


def tables(args, names, ctx):
    res, lines, heads = ctx.results, [], []

    def add(t):
        lines.extend(t[0])
        heads.extend(t[1])

    for case in ("keepalive-64", "keepalive-256", "newconn-64"):
        if case in res:
            add(report.rate_table(case, res[case], names, args.seconds, {}))
    if "fixed-rate" in res:
        add(report.fixed_rate_table(res["fixed-rate"], names, args, ctx.rate_note))
    if "bodies-1MiB" in res:
        add(report.bodies_table(res["bodies-1MiB"], names, args))
    for case in ("idle", "idle-tls"):
        if case in res:
            add(report.idle_table(res[case], names, args.idle, case))
    for case in sorted(c for c in res if c.startswith("hosts-")):
        t = report.hosts_table(case, res[case], res.get("keepalive-64", {}), names,
                               ctx.ready_s)
        add((t[0], [("hosts",) + h[1:] for h in t[1]]))
    if "churn" in res:
        add(report.churn_table(res["churn"], names, ctx.notes, args, res.get("keepalive-64")))
    for case in ("tls-handshake", "tls-keepalive-64"):
        if case in res or case in ctx.skipped:
            add(report.rate_table(case + (" (full TLS handshakes, a new connection per "
                                          "request: req/s = handshakes/s; h2load batches of 64 "
                                          "connections, no session resumption)"
                                          if case == "tls-handshake" else ""),
                                  res.get(case, {}), names, args.seconds,
                                  ctx.skipped.get(case, {})))
            if case == "tls-handshake":
                heads = [("tls-handshake",) + h[1:] if h[0].startswith("tls-handshake") else h
                         for h in heads]
    for case in H2_CASES:
        if case in res or case in ctx.skipped:
            add(report.h2_table(case, res.get(case, {}), names, args.seconds,
                                ctx.skipped.get(case, {}), h2_what(case)))
    return lines, heads


H2_CASES = [f"{kind}-{shape}" for kind in ("h2", "grpc") for shape, _, _ in scenarios.H2_SHAPES]


def h2_what(case):
    kind, shape = case.split("-", 1)
    conns, streams = next((c, m) for s, c, m in scenarios.H2_SHAPES if s == shape)
    how = (f"h2load, {conns} connection{'s' if conns > 1 else ''} × {streams} concurrent "
           "streams")
    if kind == "h2":
        return (f"HTTP/2 over TLS (scenario 9): {how}, GET /small over h2 by ALPN (the same "
                "ECDSA P-256 certificate for every proxy), proxied to the HTTP/1.1 keep-alive "
                "upstreams. p50/p99 from h2load's per-request log; peak RSS is VmHWM of the "
                "proxy's processes, reset before the run.")
    return (f"gRPC unary calls over h2c (scenario 10): {how}, POST {h2.GRPC_PATH} "
            "(content-type application/grpc, te: trailers, one 12-byte length-prefixed "
            "message) proxied over h2c to the gRPC upstream (an nginx answering one message "
            "and grpc-status 0, bench/lib/h2.py); `direct` is h2load straight to it. A 200 "
            "without the message (a proxy's own Trailers-Only error) counts as an error; each "
            "proxy had to answer one call validly (nghttp) before and after its runs.")


def causes_text():
    """Hand-written causes of known losses (bench/causes.md), by case heading."""
    path = os.path.join(BENCH, "causes.md")
    if not os.path.exists(path):
        return {}
    out, cur = {}, None
    with open(path) as f:
        for line in f:
            if line.startswith("## "):
                cur = line[3:].strip()
                out[cur] = []
            elif cur:
                out[cur].append(line.rstrip("\n"))
    return {k: "\n".join(v).strip() for k, v in out.items()}


def losses_section(heads, callgrind_res):
    lines = ["## Where Portico loses", ""]
    lost = [h for h in heads if report.headline(h[1], h[0], h[4], h[3], h[5]).loses()]
    if not lost:
        lines += ["Nowhere in this run: Portico is within 3% of, or better than, the best peer "
                  "on every ratio above.", ""]
    causes = causes_text()
    for case, label, key, better, r, peer in lost:
        lines.append(f"- **{case}, {label}**: Portico is {r:.2f}× {peer} "
                     f"({'higher' if better == 'higher' else 'lower'} is better).")
    for case in sorted({h[0] for h in lost}):
        if case in causes:
            lines += ["", f"Cause found for {case}: {causes[case]}"]
    if lost and not any(h[0] in causes for h in lost):
        lines += ["", "No cause recorded in bench/causes.md for these yet; the callgrind "
                  "figures below (or bench/callgrind.sh) show where the instructions go."]
    lines.append("")
    for cg in callgrind_res or []:
        lines += callgrind_section(cg)
    return lines


def callgrind_section(cg):
    what = (f"POSTs of {cg['body_bytes']:,} bytes answered with as many"
            if cg.get("body_bytes") else "GETs of /small")
    lines = [f"## Instructions per request (callgrind): {what}", "",
             f"{cg['requests']:,} keep-alive requests (h2load, {cg['conns']} connections) "
             "through each proxy under valgrind --tool=callgrind, instrumentation switched on "
             "after start-up and a warm-up; nginx with `master_process off`. User-space "
             "instructions only (system calls are not counted; valgrind counts each byte of "
             "a `rep movsb` memcpy as an instruction).", "",
             "| proxy | instructions per request |", "|---|---|"]
    for n, v in cg["per_proxy"].items():
        lines.append(f"| {n} | {report.fmt(v.get('ir_per_req'))} |" if "error" not in v
                     else f"| {n} | failed: {v['error']} |")
    top = cg["per_proxy"].get("portico", {}).get("top")
    if top:
        lines += ["", "Portico's top functions (self instructions per request):", "",
                  "| instructions/req | function |", "|---|---|"]
        lines += [f"| {ir:,.0f} | `{fn}` |" for ir, fn in top]
    return lines + [""]


def write(args, names, ctx, duration, callgrind_res):
    day = datetime.date.today().isoformat()
    out = args.out or os.path.join(BENCH, "results", f"{day}{'-quick' if args.quick else ''}.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    png = os.path.splitext(out)[0] + ".png"
    body, heads = tables(args, names, ctx)
    hdr = [f"# Benchmark {day}{' (quick)' if args.quick else ''}", "",
           f"Machine: {machine()}", "",
           "Versions: " + "; ".join(versions(names, args.build_dir, getattr(args, "alt_build_dir", None))), "",
           f"Rounds: {args.rounds} interleaved, {args.seconds} s per run (churn "
           f"{args.churn_seconds} s); proxy pinned to CPU {scenarios.PROXY_CPU}, load generator "
           f"and upstreams to CPU {scenarios.LOAD_CPU}. Whole run: {duration / 60:.1f} min.", "",
           "Configurations:", ""]
    for n in names:
        for group, text in ctx.notes.get(n, {}).items():
            hdr.append(f"- {n} ({group}): {text}")
    hdr.append("")
    if ctx.failures:
        hdr += ["Failures during the run:", ""] + [f"- {f}" for f in ctx.failures] + [""]
    plotted = plot.plot(ctx.results, names, png)
    if plotted:
        hdr += [f"![req/s and p99 per proxy]({os.path.basename(png)})", ""]
    text = "\n".join(hdr + ["## Tables", ""] + body + losses_section(heads, callgrind_res))
    with open(out, "w") as f:
        f.write(text + "\n")
    print(text)
    print(f"bench: wrote {out}" + (f" and {png}" if plotted else " (no plot: gnuplot missing)"))
    if full_run(args):
        update_results_md(day, text, heads, os.path.relpath(out, BENCH))
    elif not args.quick and not args.no_record:
        print("bench: bench/RESULTS.md left as it is (not a full run: a subset of the scenarios "
              "or proxies, or --out given)")


def full_run(args):
    """Only a run of every default scenario and proxy, written to the default results file,
    updates RESULTS.md: a partial run's ratios would stand in its history as a full run's."""
    defaults = args.parser_defaults
    return (not args.quick and not args.no_record and args.out is None
            and set(args.scenarios.split(",")) >= set(defaults["scenarios"].split(","))
            and set(args.proxies.split(",")) >= set(defaults["proxies"].split(",")))


def update_results_md(day, text, heads, rel):
    path = os.path.join(BENCH, "RESULTS.md")
    old = open(path).read() if os.path.exists(path) else ""
    hist_hdr = ("| date | machine | " + " | ".join(f"{c} {l}" for c, l in HEADLINES) + " |\n" +
                "|---|---|" + "---|" * len(HEADLINES) + "\n")
    marker = "## History of headline ratios"
    history = old.split(marker, 1)[1].split("\n", 1)[1] if marker in old else ""
    history = history.split("\n## ", 1)[0]  # up to the next section
    rows = [l for l in history.splitlines() if re.match(r"\| \d{4}-\d\d-\d\d \|", l)]
    by = {(h[0], h[1]): h[4] for h in heads}
    cells = [f"{by[k]:.2f}×" if k in by else "–" for k in HEADLINES]
    rows.append(f"| {day} | {machine()} | " + " | ".join(cells) + " |")
    latest = text.replace("\n## ", "\n### ").replace("](20", "](results/20")
    doc = ("# Benchmark results\n\nThe latest full run of `bench/run.sh` (all tables, from "
           f"[{rel}]({rel})) and the history of its headline ratios (Portico / best peer).\n\n"
           f"{marker} (Portico / best peer)\n\n" + hist_hdr + "\n".join(rows) + "\n\n"
           "## Latest full run\n\n" + latest.split("\n", 1)[1] + "\n")
    with open(path, "w") as f:
        f.write(doc)
    print(f"bench: updated {path}")
