"""b24jssdk's ``B24Hook`` (the official JavaScript SDK, pinned in tests/js), unchanged, in Node.

The portal serves https with its own CA, which Node is told to trust through
``NODE_EXTRA_CA_CERTS``, as a user behind a corporate CA would; ``B24Hook`` refuses http.
A missing Node or SDK fails the test: ``make test`` installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from portal.testing import PortalHandle

JS_DIR = Path(__file__).resolve().parents[1] / "js"
CONTACTS = 3000
#: The portal keeps the standard plan's rate limit on, with time running this much faster.
SPEED = 50.0


def run_node(script: str, *args: str, ca_bundle: str | None, timeout: float = 240) -> Any:
    """Run a script of tests/js with Node and return the JSON it printed."""
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node is missing: `make test` installs Debian's nodejs")
    if not (JS_DIR / "node_modules" / "@bitrix24" / "b24jssdk").is_dir():
        pytest.fail("@bitrix24/b24jssdk is missing: run `npm ci --prefix tests/js` (`make test` does)")
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    if ca_bundle:
        env["NODE_EXTRA_CA_CERTS"] = ca_bundle
    done = subprocess.run(
        [node, str(JS_DIR / script), *args],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout)


@pytest.mark.b24portal(https=True, contacts=CONTACTS, limits=True, speed=SPEED)
def test_b24hook_calls_batches_and_every_list_helper(portal: PortalHandle) -> None:
    assert portal.webhook_url.startswith("https://") and portal.ca_bundle
    report = run_node("hook.mjs", portal.webhook_url, str(SPEED), ca_bundle=portal.ca_bundle)
    rows = portal.portal.crm.entities["contact"].rows
    every = [str(i) for i in sorted(rows)]
    assert len(every) == CONTACTS

    assert report["user"]["ID"] == "1" and report["user"]["NAME"] == "Maria"
    assert report["contact7"]["ID"] == "7" and report["contact7"]["NAME"] == rows[7]["NAME"]
    assert report["failed"] == {"code": "ERROR_METHOD_NOT_FOUND", "status": 404}

    assert report["batch"]["me"] == "1"
    assert report["batch"]["list"] == every[:50]
    assert report["batch"]["same"] == report["batch"]["list"][0]
    assert report["batchByChunk"] == [str(i) for i in range(1, 121)]

    assert report["total"] == CONTACTS
    for helper, ids in report["lists"].items():
        # Every row once: no duplicates, none missing.
        assert len(ids) == CONTACTS, f"{helper}: {len(ids)} rows"
        assert sorted(ids, key=int) == every, helper
    assert set(report["lists"]) == {
        "callListMethod",
        "fetchListMethod",
        "v2CallList",
        "v2FetchList",
        "getNext",
    }
    # The SDK stayed under the portal's limits: nothing was refused.
    assert [r for r in portal.requests() if r["status"] in {429, 503}] == []
