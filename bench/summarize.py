#!/usr/bin/env python3
"""Summarizes bench/run.sh measurements: a table of medians, min-max, the
ratio to raw C measured in the same repetition, client CPU per operation,
and (unless --no-targets) each target of issue 6, met or missed.

Input: the TSV written by run.sh, one row per measurement:
  workload impl rep ops secs cpu_s p50_us errors value server_cpu_us rc
"""
import collections
import statistics
import sys

ORDER = [
    "raw_blocking", "raw_epoll", "cosocket_c_blocking", "cosocket_c_cq",
    "lua_cosocket_blocking", "lua_cosocket_sched", "nginx", "luasocket",
    "cqueues", "luv", "copas",
]
WORKLOADS = [
    "pingpong", "pingpong_1core", "reconnect", "reconnect_1core", "pooled_1core",
    "concurrent_64", "concurrent_512", "concurrent_1000", "concurrent_10000",
    "bulk", "mem_open", "mem_pooled",
]


def baseline(workload):
    return "raw_epoll" if workload.startswith("concurrent") else "raw_blocking"


def metric(workload, r):
    """(value, higher_is_better, unit) of one measurement."""
    if workload.startswith("mem_"):
        return r["value"], False, "B/conn"
    if workload == "pingpong":
        return r["p50_us"], False, "µs p50"
    if r["secs"] <= 0:
        return 0.0, True, ""
    if workload == "bulk":
        return r["ops"] / r["secs"] / 1e6, True, "MB/s"
    return r["ops"] / r["secs"], True, "ops/s"


def fmt(v, unit):
    if unit == "ops/s":
        return f"{v / 1000:.1f}k"
    if unit in ("MB/s",):
        return f"{v:.0f}"
    if unit == "B/conn":
        return f"{v:.0f}"
    return f"{v:.1f}"


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 11 or p[0] == "workload":
                continue
            rows.append({
                "workload": p[0], "impl": p[1], "rep": int(p[2]), "ops": float(p[3]),
                "secs": float(p[4]), "cpu_s": float(p[5]), "p50_us": float(p[6]),
                "errors": int(p[7]), "value": float(p[8]), "srv_us": float(p[9]), "rc": int(p[10]),
            })
    return rows


def summarize(rows):
    by = collections.defaultdict(list)
    for r in rows:
        by[(r["workload"], r["impl"])].append(r)
    out = {}
    for (wl, impl), rs in by.items():
        good = [r for r in rs if r["rc"] == 0 and r["errors"] == 0]
        vals = [metric(wl, r)[0] for r in good]
        unit = metric(wl, rs[0])[2]
        higher = metric(wl, rs[0])[1]
        ratios = []
        for r in good:
            base = [b for b in by.get((wl, baseline(wl)), []) if b["rep"] == r["rep"] and b["rc"] == 0]
            if base and not wl.startswith("mem_"):
                bv = metric(wl, base[0])[0]
                v = metric(wl, r)[0]
                if bv > 0 and v > 0:
                    ratios.append(v / bv)
        # Per operation; for bulk per 64 KiB read (ops counts bytes there).
        per = 65536.0 if wl == "bulk" else 1.0
        cpu = [r["cpu_s"] / r["ops"] * per * 1e6 for r in good if r["ops"] > 0 and r["cpu_s"] > 0]
        srv = [r["srv_us"] / r["ops"] * per for r in good
               if r["ops"] > 0 and r["srv_us"] > 0 and not wl.startswith("mem_")]
        ops = [r["ops"] / r["secs"] for r in good if r["secs"] > 0]
        out[(wl, impl)] = {
            "n": len(rs), "ok": len(good), "unit": unit, "higher": higher,
            "median": statistics.median(vals) if vals else None,
            "min": min(vals) if vals else None, "max": max(vals) if vals else None,
            "ratio": statistics.median(ratios) if ratios else None,
            "ratio_min": min(ratios) if ratios else None, "ratio_max": max(ratios) if ratios else None,
            "cpu_us": statistics.median(cpu) if cpu else None,
            "srv_us": statistics.median(srv) if srv else None,
            "ops_s": statistics.median(ops) if ops else None,
            "failed": len(rs) - len(good),
        }
    return out


def table(s):
    lines = [
        "| workload | implementation | median | min–max | ratio to raw C (min–max) | client CPU µs/op | server CPU µs/op | runs ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for wl in WORKLOADS + sorted({w for w, _ in s} - set(WORKLOADS)):
        for impl in ORDER + sorted({i for _, i in s} - set(ORDER)):
            e = s.get((wl, impl))
            if not e:
                continue
            u = e["unit"]
            med = f"{fmt(e['median'], u)} {u}" if e["median"] is not None else "failed"
            if wl == "pingpong" and e["ops_s"]:
                med += f" ({e['ops_s'] / 1000:.1f}k ops/s)"
            mm = f"{fmt(e['min'], u)}–{fmt(e['max'], u)}" if e["min"] is not None else "–"
            if impl == baseline(wl) and not wl.startswith("mem_"):
                ratio = "1 (baseline)"
            elif e["ratio"] is not None:
                ratio = f"{e['ratio']:.3f} ({e['ratio_min']:.2f}–{e['ratio_max']:.2f})"
            else:
                ratio = "–"
            cpu = f"{e['cpu_us']:.2f}" if e["cpu_us"] is not None else "–"
            srv = f"{e['srv_us']:.2f}" if e["srv_us"] is not None else "–"
            lines.append(f"| {wl} | {impl} | {med} | {mm} | {ratio} | {cpu} | {srv} | {e['ok']}/{e['n']} |")
    return "\n".join(lines)


# (workload, implementation, comparison, threshold, description)
TARGETS = [
    ("pingpong_1core", "cosocket_c_blocking", ">=", 0.97, "C blocking ≥ 0.97 × raw C"),
    ("pingpong_1core", "cosocket_c_cq", ">=", 0.97, "C completion queue ≥ 0.97 × raw C"),
    ("pingpong_1core", "lua_cosocket_blocking", ">=", 0.93, "LuaJIT outside the scheduler ≥ 0.93 × raw C"),
    ("pingpong_1core", "lua_cosocket_sched", ">=", 0.93, "LuaJIT inside the scheduler ≥ 0.93 × raw C"),
    ("pingpong", "cosocket_c_blocking", "<=", 1.05, "C blocking p50 ≤ 1.05 × raw C"),
    ("pingpong", "cosocket_c_cq", "<=", 1.05, "C completion queue p50 ≤ 1.05 × raw C"),
    ("pingpong", "lua_cosocket_blocking", "<=", 1.05, "LuaJIT outside p50 ≤ 1.05 × raw C"),
    ("pingpong", "lua_cosocket_sched", "<=", 1.05, "LuaJIT inside p50 ≤ 1.05 × raw C"),
    ("pooled_1core", "cosocket_c_blocking", ">=", 0.93, "C blocking ≥ 0.93 × raw C"),
    ("pooled_1core", "cosocket_c_cq", ">=", 0.93, "C completion queue ≥ 0.93 × raw C"),
    ("pooled_1core", "lua_cosocket_blocking", ">=", 0.93, "LuaJIT outside ≥ 0.93 × raw C"),
    ("pooled_1core", "lua_cosocket_sched", ">=", 0.93, "LuaJIT inside ≥ 0.93 × raw C"),
    ("reconnect", "cosocket_c_blocking", ">=", 0.95, "C blocking ≥ 0.95 × raw C"),
    ("reconnect", "cosocket_c_cq", ">=", 0.95, "C completion queue ≥ 0.95 × raw C"),
    ("reconnect", "lua_cosocket_blocking", ">=", 0.95, "LuaJIT outside ≥ 0.95 × raw C"),
    ("reconnect", "lua_cosocket_sched", ">=", 0.95, "LuaJIT inside ≥ 0.95 × raw C"),
    ("reconnect_1core", "cosocket_c_blocking", ">=", 0.95, "(same bar on one CPU) C blocking ≥ 0.95 × raw C"),
    ("reconnect_1core", "cosocket_c_cq", ">=", 0.95, "(same bar on one CPU) C completion queue ≥ 0.95 × raw C"),
    ("reconnect_1core", "lua_cosocket_blocking", ">=", 0.95, "(same bar on one CPU) LuaJIT outside ≥ 0.95 × raw C"),
    ("reconnect_1core", "lua_cosocket_sched", ">=", 0.95, "(same bar on one CPU) LuaJIT inside ≥ 0.95 × raw C"),
    ("concurrent_64", "lua_cosocket_sched", ">=", 0.95, "LuaJIT, one OS thread ≥ 0.95 × raw C epoll"),
    ("concurrent_512", "lua_cosocket_sched", ">=", 0.95, "LuaJIT, one OS thread ≥ 0.95 × raw C epoll"),
    ("concurrent_64", "cosocket_c_cq", ">=", 0.95, "(C completion queue, same bar) ≥ 0.95 × raw C epoll"),
    ("concurrent_512", "cosocket_c_cq", ">=", 0.95, "(C completion queue, same bar) ≥ 0.95 × raw C epoll"),
    ("concurrent_10000", "lua_cosocket_sched", "ok", None, "LuaJIT: 10,000 connections complete without errors"),
    ("concurrent_10000", "cosocket_c_cq", "ok", None, "C completion queue: 10,000 connections complete without errors"),
    ("bulk", "lua_cosocket_blocking", ">=", 0.85, "LuaJIT outside ≥ 0.85 × raw C MB/s"),
    ("bulk", "lua_cosocket_sched", ">=", 0.85, "LuaJIT inside ≥ 0.85 × raw C MB/s"),
    ("mem_pooled", "cosocket_c_blocking", "mem", 8192, "C: ≤ 8 KiB per idle pooled connection"),
    ("mem_open", "cosocket_c_blocking", "mem", 16384, "C: ≤ 16 KiB per open connection"),
    ("mem_pooled", "lua_cosocket_blocking", "mem", 8192, "LuaJIT: ≤ 8 KiB per idle pooled connection"),
    ("mem_open", "lua_cosocket_blocking", "mem", 16384, "LuaJIT: ≤ 16 KiB per open connection"),
]


def targets(s):
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    for wl, impl, cmp, thr, desc in TARGETS:
        e = s.get((wl, impl))
        if not e:
            lines.append(f"| {wl}: {desc} | not run | – |")
            continue
        if cmp == "ok":
            ok = e["failed"] == 0 and e["ok"] > 0
            lines.append(f"| {wl}: {desc} | {e['ok']}/{e['n']} runs clean | {'met' if ok else 'MISSED'} |")
        elif cmp == "mem":
            v = e["median"]
            if v is None:
                lines.append(f"| {wl}: {desc} | failed | MISSED |")
            else:
                lines.append(f"| {wl}: {desc} | {v:.0f} B | {'met' if v <= thr else 'MISSED'} ({v / thr:.2f} of the limit) |")
        else:
            r = e["ratio"]
            if r is None:
                lines.append(f"| {wl}: {desc} | failed | MISSED |")
                continue
            ok = r >= thr if cmp == ">=" else r <= thr
            lines.append(f"| {wl}: {desc} | {r:.3f} ({e['ratio_min']:.2f}–{e['ratio_max']:.2f}) | {'met' if ok else 'MISSED'} |")
    return "\n".join(lines)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rows = load(args[0])
    s = summarize(rows)
    print(table(s))
    if "--no-targets" not in sys.argv:
        print()
        print(targets(s))


if __name__ == "__main__":
    main()
