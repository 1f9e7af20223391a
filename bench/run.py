"""``make bench``: the bulk benchmarks, measured in one run, written to bench/RESULTS.md.

Sections written here: "Export", "Import", "Per-call overhead". The "Portal throughput"
section belongs to bench/portal_throughput.py; it is refreshed by running that script
(``--write``), and left as it is with ``--skip-throughput``.

    python -m bench.run            # ~5-10 minutes
    python -m bench.run --quick    # smaller tables, a minute or two
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import subprocess
import sys
from typing import Any

from bench.common import count_status, portal_process, run_contender, write_section

EXPORTERS = ["b24-crest list_all", "b24pysdk call_list_fast", "fast-bitrix24 get_all"]
IMPORTERS = ["b24-crest call_many", "b24pysdk call_batches", "fast-bitrix24 call"]


def machine() -> str:
    return (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}; {dt.date.today()}"
    )


def bench_export(n: int, speed: float, parallel: int, cap: float) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with portal_process("--speed", str(speed), "--contacts", str(n)) as info:
        admin = info["admin"]
        for name in EXPORTERS:
            admin.fresh()
            args = ["--contender", name, "--webhook", info["webhook_url"], "--speed", str(speed)]
            args += ["--parallel", str(parallel)]
            result = run_contender("bench.export", args, info.get("ca_bundle"), cap)
            records = admin.requests()
            result.update(
                requests=len(records), r503=count_status(records, 503), r429=count_status(records, 429)
            )
            out[name] = result
            print(f"export  {name:28s} {result}", flush=True)
    return out


def bench_import(n: int, speed: float, cap: float) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with portal_process("--speed", str(speed)) as info:
        admin = info["admin"]
        for k, name in enumerate(IMPORTERS):
            admin.fresh()
            args = ["--contender", name, "--webhook", info["webhook_url"], "--speed", str(speed)]
            args += ["--n", str(n), "--tag", f"c{k}"]
            result = run_contender("bench.import_", args, info.get("ca_bundle"), cap)
            records = admin.requests()
            result.update(
                requests=len(records), r503=count_status(records, 503), r429=count_status(records, 429)
            )
            out[name] = result
            print(f"import  {name:28s} {result}", flush=True)
    return out


def bench_overhead(calls: int) -> dict[str, float]:
    from bench.overhead import measure

    with portal_process("--no-limits", "--no-cost") as info:
        best = measure(info["webhook_url"], info.get("ca_bundle"), n=calls)
    for name, sec in best.items():
        print(f"overhead {name:34s} {sec * 1e6:8.0f} us/call", flush=True)
    return best


def _wall(r: dict[str, Any]) -> str:
    if r.get("timeout"):
        return f"> {r['wall']:.1f} (stopped)"
    return f"{r['wall']:.2f}" if r.get("ok") else "failed"


def _failures(res: dict[str, dict[str, Any]]) -> str:
    notes = [f"- {name}: {r.get('error', '')}" for name, r in res.items() if not r.get("ok")]
    return (
        (
            "Contenders that did not finish (the last lines of their error output):\n\n"
            + "\n".join(notes)
            + "\n"
        )
        if notes
        else ""
    )


def write_export(res: dict[str, dict[str, Any]], n: int, speed: float, parallel: int, cap: float) -> None:
    ours = res[EXPORTERS[0]]
    chains = (ours.get("stats") or {}).get("chains", 0)
    bound = math.ceil(n / 2500) + chains + 2
    lines = []
    for name in EXPORTERS:
        r = res[name]
        ratio = f"{r['wall'] / ours['wall']:.2f}" if r.get("wall") and ours.get("wall") else "—"
        if not r.get("ok") and not r.get("timeout"):
            ratio = "—"  # the time to a failure is no speed
        if r.get("timeout"):
            ratio = f"> {ratio}"
        once = (
            "yes"
            if r.get("ok") and r.get("rows") == r.get("unique") == n
            else ("—" if not r.get("ok") else "NO")
        )
        lines.append(
            f"| {name} | {_wall(r)} | {ratio} | {r['requests']} | {r['r503']} / {r['r429']} | "
            f"{r.get('rows', '—')} | {once} |"
        )
    ok = ours.get("ok") and ours["requests"] <= bound and ours.get("unique") == ours.get("rows") == n
    fastest = all(
        (not r.get("ok")) or r.get("timeout") or r["wall"] >= ours["wall"]
        for k, r in res.items()
        if k != EXPORTERS[0]
    )
    body = f"""
Every contact of a portal seeded with {n:,} contacts (`crest portal --https --speed {speed:g}
--contacts {n}`: standard plan, limits on, method cost simulated; every duration of the
portal divided by {speed:g}). Fields `ID, NAME, LAST_NAME`. Each contender runs in its own
process, one after another, on the same portal, with the bucket and operating time reset
before each; requests and error answers are counted by the portal's own record. Contenders
still running after {cap:.0f} s are stopped.

| contender | wall s | vs ours | requests | 503 / 429 | rows | every row once |
|---|---:|---:|---:|---:|---:|---|
{chr(10).join(lines)}

{_failures(res)}
Ours: {chains} keyset chains in parallel (`parallel={parallel}`), {ours["requests"]} requests
against the bound ceil(N/2500) + chains + 2 = {bound}: **{"met" if ok else "NOT met"}**; fastest:
**{"yes" if fastest else "NO"}**.

How the others were run: `b24pysdk` `BitrixWebhook(...).call_list_fast("crm.contact.list",
{{"select": ...}})` (one keyset chain of 50 pages a batch, sequential; it has no throttle
settings). `fast-bitrix24` `Bitrix(webhook, requests_per_second=2*speed, request_pool_size=50,
operating_time_limit=480/speed).get_all(...)`, its own throttle scaled to the portal's speed
(its 10-minute window is a module constant and was left alone); `get_all` reads counted
pages (`start=0, 50, ...`), which the portal charges with a COUNT over the table, as Bitrix24
does. All three talk HTTPS to the portal's private CA (b24pysdk only builds `https://` URLs).

Machine: {machine()}.
"""
    write_section("Export", body)


def write_import(res: dict[str, dict[str, Any]], n: int, speed: float) -> None:
    ours = res[IMPORTERS[0]]
    batches = math.ceil(n / 50)
    floor = max(0, batches - 50) / (2 * speed)
    # The method cost: the portal's simulated cost of one batch of adds (50 x base / speed),
    # which the last batch adds after its slot.
    cost = 50 * 0.02 / speed
    lines = []
    for name in IMPORTERS:
        r = res[name]
        ratio = f"{r['wall'] / ours['wall']:.2f}" if r.get("wall") and ours.get("wall") else "—"
        vs_floor = f"{r['wall'] / (floor + cost):.2f}" if r.get("wall") else "—"
        if not r.get("ok") and not r.get("timeout"):
            ratio = vs_floor = "—"
        lines.append(
            f"| {name} | {_wall(r)} | {ratio} | {vs_floor} | {r['requests']} | {r['r503']} | {r.get('created', '—')} |"
        )
    within = ours.get("ok") and ours["wall"] <= 1.10 * (floor + cost)
    exact = ours.get("ok") and ours["requests"] == batches and ours["r503"] == 0
    body = f"""
{n:,} new contacts (`crm.contact.add`, NAME, LAST_NAME, PHONE) on a fresh portal
(`crest portal --https --speed {speed:g}`: standard plan, limits on, method cost simulated).
Each contender in its own process, bucket reset before each, counts from the portal's
record. The leaky bucket's floor is (ceil(N/50) - 50) / (2 x speed) = {floor:.2f} s (the first 50
requests free, then 2 a second, scaled), plus one batch's method cost ({cost:.2f} s).

| contender | wall s | vs ours | vs floor | requests | 503 received | created |
|---|---:|---:|---:|---:|---:|---:|
{chr(10).join(lines)}

Ours: {ours["requests"]} requests (ceil(N/50) = {batches}) and {ours["r503"]} answers 503:
**{"met" if exact else "NOT met"}**; wall time within 10 % of the floor: **{"yes" if within else "NO"}**.
Our limiter keeps 10 % of the burst and 1 % of the drain rate in reserve (jitter between
reserving a slot and the portal counting the request), which is most of the gap to the floor.

How the others were run: `fast-bitrix24` `Bitrix(webhook, requests_per_second=2*speed,
request_pool_size=50, operating_time_limit=480/speed).call("crm.contact.add", items)`;
`b24pysdk` `BitrixWebhook(...).call_batches([("crm.contact.add", item), ...])` (sequential
batches of 50; no throttle settings). Defaults otherwise, as against a real portal.

Machine: {machine()}.
"""
    write_section("Import", body)


def write_overhead(best: dict[str, float], calls: int) -> None:
    bare = best["requests.Session (bare)"]
    lines = [f"| {name} | {sec * 1e6:,.0f} | {sec / bare:.2f} |" for name, sec in best.items()]
    worst = max(sec / bare for sec in best.values())
    body = f"""
`user.current` through the webhook, one call after another on one keep-alive HTTPS
connection, portal in its own process with limits and cost off (`crest portal --https
--no-limits --no-cost`); best of 5 alternating rounds of {calls} calls.

| client | us per call | vs bare |
|---|---:|---:|
{chr(10).join(lines)}

At most 1.2x the bare session: **{"yes" if worst <= 1.2 else "NO"}** (worst {worst:.2f}x).

Machine: {machine()}.
"""
    write_section("Per-call overhead", body)


def main() -> None:
    parser = argparse.ArgumentParser(description="bulk benchmarks -> bench/RESULTS.md")
    parser.add_argument(
        "--quick", action="store_true", help="20,000 / 2,000 rows instead of 100,000 / 10,000"
    )
    parser.add_argument("--speed", type=float, default=4.0, help="portal speed factor (default 4)")
    parser.add_argument("--parallel", type=int, default=8, help="our keyset chains")
    parser.add_argument("--cap", type=float, default=None, help="seconds before a contender is stopped")
    parser.add_argument("--only", choices=["export", "import", "overhead"], action="append")
    parser.add_argument("--skip-throughput", action="store_true", help="leave the Portal throughput section")
    args = parser.parse_args()
    n_export, n_import = (20_000, 2_000) if args.quick else (100_000, 10_000)
    cap = args.cap or (60.0 if args.quick else 180.0)
    only = set(args.only or ["export", "import", "overhead"])
    if "export" in only:
        write_export(
            bench_export(n_export, args.speed, args.parallel, cap), n_export, args.speed, args.parallel, cap
        )
    if "import" in only:
        write_import(bench_import(n_import, args.speed, cap), n_import, args.speed)
    if "overhead" in only:
        calls = 200 if args.quick else 500
        write_overhead(bench_overhead(calls), calls)
    if not args.skip_throughput and not args.only:
        subprocess.run([sys.executable, "-m", "bench.portal_throughput", "--write"], check=False)
    print("wrote bench/RESULTS.md", flush=True)


if __name__ == "__main__":
    main()
