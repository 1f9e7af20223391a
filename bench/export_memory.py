"""Peak memory of ``crest export`` against the row count: flat, whatever ``--parallel``.

``python -m bench.export_memory [--sizes 20000,200000] [--parallel 1,4] [--write]`` starts
one local portal per size (its own process, limits and cost off: memory is the question,
not pacing), runs ``crest export`` to CSV in a fresh process for each ``--parallel`` and
reads that process's peak RSS (``ru_maxrss``) when it ends. ``--write`` puts the table in
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import portal_process, write_section

#: Runs ``crest export`` in this process, then prints its peak RSS (kB on Linux) as JSON.
_CHILD = """
import json, resource, sys
from crest.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

SELECT = ["ID", "NAME", "LAST_NAME", "PHONE", "EMAIL"]


def measure(info: dict[str, Any], parallel: int, out: Path) -> dict[str, Any]:
    select = [a for f in SELECT for a in ("--select", f)]
    args = ["export", "crm.contact.list", *select, "--out", str(out), "--parallel", str(parallel)]
    args += ["--webhook", info["webhook_url"], "--speed", "1000", "--quiet", "--restart"]
    env = dict(os.environ)
    if info.get("ca_bundle"):
        env["CREST_CA_BUNDLE"] = info["ca_bundle"]
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, env=env, check=False
    )
    wall = time.monotonic() - started
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-2000:])
    peak = json.loads(run.stdout.strip().splitlines()[-1])["maxrss_kb"] / 1024
    with open(out, encoding="utf-8") as fh:
        rows = sum(1 for _ in fh) - 1
    return {"parallel": parallel, "peak_mb": peak, "wall": wall, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--parallel", default="1,4")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    parallels = [int(p) for p in args.parallel.split(",")]
    results: list[dict[str, Any]] = []
    for n in sizes:
        with (
            portal_process("--contacts", str(n), "--no-limits", "--no-cost") as info,
            tempfile.TemporaryDirectory() as tmp,
        ):
            for parallel in parallels:
                result = {"n": n, **measure(info, parallel, Path(tmp) / "out.csv")}
                print(json.dumps(result), flush=True)
                results.append(result)
    if args.write:
        lines = [
            "`crest export crm.contact.list` of ID, NAME, LAST_NAME, PHONE, EMAIL to CSV, one fresh",
            "process per run (peak RSS from `ru_maxrss`), portal in its own process with limits and",
            "cost off (`python -m bench.export_memory --write`).",
            "",
            "| rows | --parallel | peak RSS (MB) | wall (s) | rows written |",
            "|---:|---:|---:|---:|---:|",
        ]
        for r in results:
            lines.append(
                f"| {r['n']:,} | {r['parallel']} | {r['peak_mb']:.0f} | {r['wall']:.1f} | {r['rows']:,} |"
            )
        by = {(r["n"], r["parallel"]): r["peak_mb"] for r in results}
        if len(sizes) >= 2:
            small, large = min(sizes), max(sizes)
            ratios = ", ".join(
                f"--parallel {p}: {by[(large, p)] / by[(small, p)]:.2f}x"
                for p in parallels
                if (small, p) in by
            )
            lines += ["", f"Peak RSS at {large:,} rows vs {small:,}: {ratios}."]
        lines += [
            "",
            f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; {time.strftime('%Y-%m-%d')}.",
        ]
        write_section("Export memory", "\n".join(lines))


if __name__ == "__main__":
    main()
