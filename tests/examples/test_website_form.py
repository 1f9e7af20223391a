"""examples/website_form.py end to end against the portal: the form, the durable outbox, the
retry while the portal fails, exactly one lead, the contact link, and the honeypot."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import requests

from crest.client import Client, RetryPolicy
from portal.testing import PortalHandle, running_portal

FAST = RetryPolicy(rate_limited=1, not_sent=0, unknown_outcome=0, backoff=0.01, backoff_cap=0.01)


def leads(portal: PortalHandle) -> list[dict[str, Any]]:
    entity = portal.portal.crm.entities["lead"]
    return [dict(entity.get(i)) for i in entity.ids]


def test_submission_survives_a_failing_portal_and_makes_exactly_one_lead(
    tmp_path: Path, load_example: Callable[[str], ModuleType], wait_until: Callable[..., Any]
) -> None:
    form = load_example("website_form")
    with running_portal() as portal:
        hook = Client.from_webhook(portal.webhook_url)
        contact_id = hook.call(
            "crm.contact.add",
            {"fields": {"NAME": "Ann", "EMAIL": [{"VALUE": "ann@example.com", "VALUE_TYPE": "WORK"}]}},
        )
        before = len(leads(portal))
        # The portal is unavailable for the first attempts, then loses the answer of the add
        # (the lead is made, the reply never arrives): the worst case for "exactly once".
        portal.fault("crm.lead.list", error="INTERNAL_SERVER_ERROR", status=503, count=2)
        portal.fault("crm.lead.add", kind="drop", count=1)
        outbox = form.Outbox(tmp_path / "outbox.sqlite")
        deliverer = form.Deliverer(
            outbox, Client.from_webhook(portal.webhook_url, retry=FAST), poll=0.05, backoff=0.05
        )
        web = form.create_form_app(outbox, deliverer).test_client()
        resp = web.post(
            "/submit", data={"name": "Ann Smith", "email": "ann@example.com", "message": "Call me <b>"}
        )
        assert resp.status_code == 200 and b'id="thanks"' in resp.data
        assert outbox.pending() == 1  # stored before the answer, nothing delivered yet
        deliverer.start()
        try:
            wait_until(lambda: outbox.pending() == 0)
        finally:
            deliverer.stop()
        new = leads(portal)[before:]
        assert len(new) == 1, new
        [lead] = new
        assert (
            lead["NAME"] == "Ann Smith" and lead["COMMENTS"] == "Call me <b>" and lead["SOURCE_ID"] == "WEB"
        )
        assert str(lead["CONTACT_ID"]) == str(contact_id)
        assert portal.count("crm.lead.add") == 1  # the retry found the lead instead of adding again
        assert portal.count("crm.lead.list") >= 3


def test_queued_submission_is_delivered_after_a_restart(
    tmp_path: Path, load_example: Callable[[str], ModuleType], wait_until: Callable[..., Any]
) -> None:
    form = load_example("website_form")
    with running_portal() as portal:
        # Accepted while no deliverer runs (the process stopped before it could send)...
        web = form.create_form_app(form.Outbox(tmp_path / "outbox.sqlite")).test_client()
        assert web.post("/submit", data={"name": "Bo", "phone": "+1 555 0100"}).status_code == 200
        # ...and sent by the next process that opens the same outbox.
        outbox = form.Outbox(tmp_path / "outbox.sqlite")
        assert outbox.pending() == 1
        assert form.Deliverer(outbox, Client.from_webhook(portal.webhook_url)).run_once() == 1
        [lead] = leads(portal)
        assert lead["PHONE"][0]["VALUE"] == "+1 555 0100" and not lead.get("CONTACT_ID")


def test_spam_and_bad_input_send_nothing(tmp_path: Path, load_example: Callable[[str], ModuleType]) -> None:
    form = load_example("website_form")
    outbox = form.Outbox(tmp_path / "outbox.sqlite")
    web = form.create_form_app(outbox).test_client()
    bot = web.post("/submit", data={"name": "Bot", "email": "b@x.io", "website": "http://spam.example"})
    assert bot.status_code == 200 and b'id="thanks"' in bot.data  # looks accepted...
    assert outbox.pending() == 0  # ...and is not
    assert web.post("/submit", data={"name": "x" * 101, "email": "a@b.co"}).status_code == 400
    assert web.post("/submit", data={"name": "No contact"}).status_code == 400
    assert web.post("/submit", data={"name": "Bad", "email": "not-an-email"}).status_code == 400
    assert (
        web.post("/submit", data={"name": "Big", "message": "m" * 20_000, "email": "a@b.co"}).status_code
        == 413
    )
    page = web.post("/submit", data={"name": "<script>x</script>"})
    assert b"<script>x</script>" not in page.data and b"&lt;script&gt;" in page.data
    assert outbox.pending() == 0


def test_the_documented_command_serves_the_form_and_delivers(
    tmp_path: Path, wait_until: Callable[..., Any]
) -> None:
    script = Path(__file__).resolve().parents[2] / "examples" / "website_form.py"
    with running_portal() as portal:
        port = _free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                str(script),
                "--webhook",
                portal.webhook_url,
                "--outbox",
                str(tmp_path / "o.sqlite"),
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: _answers(url))
            resp = requests.post(f"{url}/submit", data={"name": "Cy", "email": "cy@example.com"}, timeout=10)
            assert resp.status_code == 200
            wait_until(lambda: len(leads(portal)) == 1)
            # The lead exists; the example reports it once the portal's answer is recorded.
            assert proc.stdout is not None
            stopper = threading.Timer(20, proc.terminate)
            stopper.start()
            output = ""
            for line in proc.stdout:
                output += line
                if "delivered: lead" in line:
                    break
            stopper.cancel()
        finally:
            proc.terminate()
            output += proc.communicate(timeout=10)[0]
        # It says what it did: where the form is, and the lead each submission became.
        [lead] = leads(portal)
        assert f"form: {url}/" in output and f"delivered: lead {lead['ID']}" in output, output
        assert "Traceback" not in output


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
