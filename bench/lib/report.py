"""The results file: a Markdown table per scenario with Portico's ratio to the best peer, the
headline ratios, and where Portico loses."""
import statistics

PEERS_ORDER = ["portico", "portico-alt", "nginx", "haproxy", "caddy", "nginx-lean", "haproxy-lean", "direct"]
LEAN = ("nginx-lean", "haproxy-lean")


def med(rs, key):
    vals = [r[key] for r in rs if r.get(key) is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)


def fmt(v, digits=0):
    return "–" if v is None else f"{v:,.{digits}f}"


def fmt_range(rs, key, digits=0):
    m, lo, hi = med(rs, key)
    if m is None:
        return "–"
    if len(rs) == 1:
        return fmt(m, digits)
    return f"{fmt(m, digits)} ({fmt(lo, digits)}–{fmt(hi, digits)})"


class headline:
    """One Portico / best-peer ratio: `better` is "higher" or "lower"."""

    def __init__(self, key, label, ratio, better, peer):
        self.key, self.label, self.ratio, self.better, self.peer = key, label, ratio, better, peer

    def loses(self):
        if self.ratio is None:
            return False
        return self.ratio < 0.97 if self.better == "higher" else self.ratio > 1.03


def ratio_to_best(by_proxy, names, key, better):
    """(portico value / best peer value, best peer name), or (None, None)."""
    if "portico" not in by_proxy:
        return None, None
    pv = med(by_proxy["portico"], key)[0]
    cands = [(med(by_proxy[n], key)[0], n) for n in names
             if n not in ("portico", "portico-alt", "direct") and by_proxy.get(n)]
    cands = [(v, n) for v, n in cands if v is not None]
    if pv is None or not cands:
        return None, None
    v, n = max(cands) if better == "higher" else min(cands)
    if v == 0:
        return (float("inf"), n) if pv != 0 else (1.0, n)
    return pv / v, n


def ratio_line(by_proxy, names, items):
    """items: (label, key, better). Returns the sentences and the headlines: Portico against
    the best ingress-equivalent peer, and where lean peers ran, against the best of those
    (headline labels "... against lean peers")."""
    lines, heads = [], []
    for lean in (False, True):
        peers = [n for n in names if (n in LEAN) == lean]
        parts = []
        for label, key, better in items:
            r, peer = ratio_to_best(by_proxy, peers, key, better)
            if r is None:
                continue
            parts.append(f"{label} {r:.2f}× ({'higher' if better == 'higher' else 'lower'} is "
                         f"better; best peer {peer})")
            heads.append((label + (" against lean peers" if lean else ""), key, better, r, peer))
        if parts:
            lines.append(("Portico / best lean peer (no added headers): " if lean
                          else "Portico / best peer: ") + "; ".join(parts) + ".")
    return ([""] + lines if lines else []), heads


def rows(names, by_proxy):
    return [n for n in PEERS_ORDER if n in by_proxy and (n in names or n == "direct")]


def rate_table(case, by_proxy, names, seconds, skipped):
    lines = [f"### {case}", "",
             "| proxy | req/s median (min–max) | proxy CPU µs/req | p50 ms | p99 ms | "
             "wrk CPU % | errors |", "|---|---|---|---|---|---|---|"]
    for n in rows(names, by_proxy):
        rs = by_proxy[n]
        lg = statistics.median(r["loadgen_cpu"] / seconds * 100 for r in rs)
        errs = sum(r["errors"] + r["non2xx"] for r in rs)
        lines.append(f"| {n} | {fmt_range(rs, 'rps')} | {fmt(med(rs, 'cpu_us_per_req')[0], 1)} | "
                     f"{fmt(med(rs, 'p50')[0], 2)} | {fmt(med(rs, 'p99')[0], 2)} | "
                     f"{fmt(lg)} | {errs} |")
    lines += [f"| {n} | skipped: {why} | | | | | |" for n, why in skipped.items()]
    extra, heads = ratio_line(by_proxy, names, [("throughput", "rps", "higher"),
                                                ("CPU per request", "cpu_us_per_req", "lower")])
    return lines + extra + [""], [(case,) + h for h in heads]


def fixed_rate_table(by_proxy, names, args, rate_note):
    lines = ["### fixed-rate (scenario 3)", "",
             f"Offered: {rate_note or f'{args.rate:,} req/s'}, over {args.rate_conns} "
             "keep-alive connections "
             "(h2load --h1 --rps per connection); latency from h2load's per-request log. "
             "\"(saturated)\": the proxy could not take the offered rate, so its latencies are "
             "queueing, not a below-saturation figure.", "",
             "| proxy | achieved req/s | p50 ms | p99 ms median (min–max) | p99.9 ms | max ms | "
             "proxy CPU µs/req | errors |", "|---|---|---|---|---|---|---|---|"]
    for n in rows(names, by_proxy):
        rs = by_proxy[n]
        errs = sum(r["errors"] + r["non2xx"] for r in rs)
        ach = med(rs, 'achieved')[0]
        sat = " (saturated)" if ach is not None and ach < 0.95 * args.rate else ""
        lines.append(f"| {n} | {fmt(ach)}{sat} | {fmt(med(rs, 'p50')[0], 3)} | "
                     f"{fmt_range(rs, 'p99', 3)} | {fmt(med(rs, 'p999')[0], 3)} | "
                     f"{fmt(med(rs, 'max')[0], 2)} | {fmt(med(rs, 'cpu_us_per_req')[0], 1)} | "
                     f"{errs} |")
    extra, heads = ratio_line(by_proxy, names, [("p99", "p99", "lower"),
                                                ("p99.9", "p999", "lower")])
    return lines + extra + [""], [("fixed-rate",) + h for h in heads]


def bodies_table(by_proxy, names, args):
    lines = ["### bodies-1MiB (scenario 4)", "",
             f"POST of 1 MiB answered with 1 MiB (`/bytes/1048576`), {args.body_conns} "
             "keep-alive connections; MB/s is 10^6 bytes per second in each direction. Peak "
             "RSS is VmHWM of the proxy's processes, reset just before the measured run.", "",
             "| proxy | MB/s each way median (min–max) | req/s | proxy CPU µs/req | "
             "RSS before KiB | peak RSS KiB | errors |", "|---|---|---|---|---|---|---|"]
    for n in rows(names, by_proxy):
        rs = by_proxy[n]
        errs = sum(r["errors"] + r["non2xx"] for r in rs)
        lines.append(f"| {n} | {fmt_range(rs, 'mb_s')} | {fmt(med(rs, 'rps')[0])} | "
                     f"{fmt(med(rs, 'cpu_us_per_req')[0], 1)} | "
                     f"{fmt(med(rs, 'rss_before_kib')[0])} | {fmt(med(rs, 'peak_rss_kib')[0])} | "
                     f"{errs} |")
    extra, heads = ratio_line(by_proxy, names, [("MB/s", "mb_s", "higher"),
                                                ("CPU per request", "cpu_us_per_req", "lower"),
                                                ("peak RSS", "peak_rss_kib", "lower")])
    return lines + extra + [""], [("bodies-1MiB",) + h for h in heads]


def idle_table(by_proxy, names, idle, case="idle"):
    what = ("TLS keep-alive connections (full handshake, one request answered on each)"
            if case == "idle-tls" else "keep-alive connections (one request answered on each)")
    title = ("idle TLS keep-alive connections (scenario 11)" if case == "idle-tls" else
             "idle keep-alive connections (scenario 5)")
    lines = [f"### {title}", "",
             f"RSS of the proxy before and while holding {idle} idle {what}; bytes per "
             "connection count the connections still open when RSS was read. nginx allocates its connection table "
             "(worker_connections 30,000) and HAProxy its pools up front, so their growth per "
             "connection understates their cost: the ratio compares the RSS held.", "",
             f"| proxy | RSS idle KiB | RSS with {idle} idle conns KiB | bytes per conn | "
             "answered |", "|---|---|---|---|---|"]
    for n in rows(names, by_proxy):
        rs = by_proxy[n]
        lines.append(f"| {n} | {fmt(med(rs, 'rss_idle_kib')[0])} | "
                     f"{fmt(med(rs, 'rss_held_kib')[0])} | "
                     f"{fmt_range(rs, 'bytes_per_conn')} | {rs[-1]['answered']} "
                     f"({rs[-1].get('held', rs[-1]['answered'])} held) |")
    extra, heads = ratio_line(by_proxy, names, [("RSS with idle connections", "rss_held_kib",
                                                 "lower")])
    return lines + extra + [""], [(case,) + h for h in heads]


def hosts_table(case, by_proxy, base, names, ready):
    lines = [f"### {case} (scenario 6)", "",
             "Requests spread over every host in a fixed shuffled order (wrk, bench/lua/"
             "hosts.lua, 64 connections). \"vs keepalive-64\" compares with the same proxy's "
             "scenario 1 figure; CPU per request is the fairer comparison, as the Lua request "
             "path also costs wrk time.", "",
             "| proxy | req/s median (min–max) | req/s vs keepalive-64 | proxy CPU µs/req | "
             "CPU vs keepalive-64 | RSS KiB | start to first 200 s | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for n in rows(names, by_proxy):
        rs = by_proxy[n]
        b = base.get(n) or []
        rps, cpu = med(rs, "rps")[0], med(rs, "cpu_us_per_req")[0]
        brps, bcpu = med(b, "rps")[0], med(b, "cpu_us_per_req")[0]
        rr = f"{rps / brps:.2f}×" if rps and brps else "–"
        rc = f"{cpu / bcpu:.2f}×" if cpu and bcpu else "–"
        errs = sum(r["errors"] + r["non2xx"] for r in rs)
        rd = ready.get(n, {}).get("hosts") or []
        rdm = f"{statistics.median(rd):.1f}" if rd else "–"
        lines.append(f"| {n} | {fmt_range(rs, 'rps')} | {rr} | {fmt(cpu, 1)} | {rc} | "
                     f"{fmt(med(rs, 'rss_kib')[0])} | {rdm} | {errs} |")
    extra, heads = ratio_line(by_proxy, names, [("throughput", "rps", "higher"),
                                                ("CPU per request", "cpu_us_per_req", "lower")])
    return lines + extra + [""], [(case,) + h for h in heads]


def churn_table(by_proxy, names, notes, args, base=None):
    lines = ["### churn (scenario 7)", "",
             f"The upstream set changes every {args.churn_interval * 1000:.0f} ms for "
             f"{args.churn_seconds} s under a keep-alive load (wrk, 64 connections): "
             "{a,b} → {b,c} → {c,a} → … Failed requests are non-2xx responses plus wrk's "
             "socket errors. \"c served\" is upstream c's share of requests (a third when "
             "changes take effect promptly).", "",
             "| proxy | how the change is applied | changes | failed requests | p99 ms median "
             "(min–max) | p99 ms without churn (keepalive-64) | req/s | c served | apply ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n in rows(names, by_proxy):
        rs = by_proxy[n]
        failed = sum(r["failed"] for r in rs)
        lines.append(f"| {n} | {notes.get(n, {}).get('churn', '')} | "
                     f"{fmt(med(rs, 'changes')[0])} | {failed} (of "
                     f"{fmt(sum(r['requests'] for r in rs))}) | {fmt_range(rs, 'p99', 2)} | "
                     f"{fmt(med((base or {}).get(n, []), 'p99')[0], 2)} | "
                     f"{fmt(med(rs, 'rps')[0])} | {fmt(med(rs, 'share_c')[0] * 100)}% | "
                     f"{fmt(med(rs, 'apply_ms_median')[0], 1)} |")
    extra, heads = ratio_line(by_proxy, names, [("failed requests", "failed", "lower"),
                                                ("p99", "p99", "lower")])
    return lines + extra + [""], [("churn",) + h for h in heads]


def peer_ratios(by_proxy, peers, items):
    """"Portico / <peer>: label ratio, ..." for each named peer that ran (medians)."""
    out = []
    pv = {key: med(by_proxy.get("portico", []), key)[0] for _, key, _ in items}
    for peer in peers:
        parts = []
        for label, key, _ in items:
            v = med(by_proxy.get(peer, []), key)[0]
            if pv[key] is not None and v:
                parts.append(f"{label} {pv[key] / v:.2f}×")
        if parts:
            out.append(f"Portico / {peer}: " + ", ".join(parts) + ".")
    return out


def h2_table(case, by_proxy, names, seconds, skipped, what):
    """Scenarios 9 and 10: one h2load shape. `what` explains the case under its heading."""
    lines = [f"### {case}", "", what, "",
             "| proxy | req/s median (min–max) | proxy CPU µs/req median (min–max) | p50 ms | "
             "p99 ms | peak RSS KiB | h2load CPU % | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for n in rows(names, by_proxy):
        rs = by_proxy[n]
        lg = statistics.median(r["loadgen_cpu"] / seconds * 100 for r in rs)
        errs = sum(r["errors"] + r["non2xx"] for r in rs)
        lines.append(f"| {n} | {fmt_range(rs, 'rps')} | {fmt_range(rs, 'cpu_us_per_req', 1)} | "
                     f"{fmt(med(rs, 'p50')[0], 2)} | {fmt(med(rs, 'p99')[0], 2)} | "
                     f"{fmt(med(rs, 'peak_rss_kib')[0])} | {fmt(lg)} | {errs} |")
    lines += [f"| {n} | skipped: {why} | | | | | | |" for n, why in skipped.items()]
    items = [("throughput", "rps", "higher"), ("CPU per request", "cpu_us_per_req", "lower")]
    extra, heads = ratio_line(by_proxy, names, items)
    pairs = peer_ratios(by_proxy, [n for n in ("nginx", "haproxy") if n in names], items)
    return lines + extra + ([""] + pairs if pairs else []) + [""], \
        [(case,) + h for h in heads]
