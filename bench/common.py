"""What the bulk benchmarks share: a portal in its own process, its admin API, and contenders
run one at a time in their own processes (so none shares an interpreter lock with the portal
or inherits another's warm state), each with a time cap."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

RESULTS = Path(__file__).with_name("RESULTS.md")


@contextmanager
def portal_process(*args: str) -> Iterator[dict[str, Any]]:
    """``crest portal --https --port 0 ARGS`` in a subprocess; yields its info (webhook, CA bundle)."""
    with tempfile.TemporaryDirectory() as tmp:
        info_path = Path(tmp) / "info.json"
        cmd = [
            sys.executable,
            "-m",
            "crest.cli",
            "portal",
            "--https",
            "--port",
            "0",
            "--info",
            str(info_path),
            *args,
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120  # seeding 100,000 contacts takes a few seconds
            while not (info_path.exists() and info_path.stat().st_size):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("crest portal did not start")
                time.sleep(0.1)
            time.sleep(0.2)
            info = json.loads(info_path.read_text())
            info["admin"] = Admin(info["base_url"], info.get("ca_bundle"), info["admin_token"])
            yield info
        finally:
            proc.terminate()
            proc.wait(timeout=20)


class Admin:
    """The portal's ``/_portal/`` admin API: the request record and limit resets."""

    def __init__(self, base_url: str, ca_bundle: str | None, token: str) -> None:
        self.base = base_url.rstrip("/") + "/_portal/"
        self.verify: str | bool = ca_bundle or True
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, verb: str, path: str, body: Any = None) -> Any:
        resp = requests.request(
            verb, self.base + path, json=body, headers=self.headers, timeout=60, verify=self.verify
        )
        resp.raise_for_status()
        return resp.json()

    def fresh(self) -> None:
        """An empty bucket, no operating time used, an empty request record: a fair start."""
        self.call("POST", "limits/reset")
        self.call("DELETE", "requests")

    def requests(self) -> list[dict[str, Any]]:
        return self.call("GET", "requests")  # type: ignore[no-any-return]


def run_contender(module: str, args: Sequence[str], ca_bundle: str | None, cap: float) -> dict[str, Any]:
    """Run ``python -m MODULE ARGS`` (prints one JSON line last); kill it after ``cap`` seconds."""
    env = dict(os.environ)
    if ca_bundle:
        # Every contender talks HTTPS to the portal's private CA, each in its library's own way:
        # requests reads REQUESTS_CA_BUNDLE, aiohttp's default SSL context reads SSL_CERT_FILE.
        env.update(REQUESTS_CA_BUNDLE=ca_bundle, SSL_CERT_FILE=ca_bundle, CREST_CA_BUNDLE=ca_bundle)
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            timeout=cap,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {
            "ok": False,
            "timeout": True,
            "wall": time.monotonic() - started,
            "error": f"not done in {cap:.0f} s",
        }
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        # The distinct exception lines (root causes come first in a chained traceback).
        causes = re.findall(r"^([\w.]+(?:Error|Exception)\b.*)$", proc.stderr or proc.stdout, re.M)
        distinct = list(dict.fromkeys(c[:160] for c in causes))[:3]
        return {"ok": False, "wall": time.monotonic() - started, "error": " / ".join(distinct)[:480]}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def count_status(records: list[dict[str, Any]], *statuses: int) -> int:
    return sum(1 for r in records if r["status"] in statuses)


def write_section(title: str, body: str) -> None:
    """Replace (or append) the ``## title`` section of RESULTS.md, leaving every other section."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"
