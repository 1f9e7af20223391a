"""A website's contact form that lands in the CRM as a lead, and never loses a submission.

    crest portal --http --no-limits --contacts 20 &
    python examples/website_form.py --webhook http://127.0.0.1:8024/rest/1/<secret>/

(``crest portal`` prints the webhook URL.) Open http://127.0.0.1:5080/ and send the form.

* Each submission is written to a small SQLite outbox *before* the visitor sees "thank you";
  a background thread delivers it and retries with backoff while the portal is down or busy.
* Delivery links the lead to an existing contact found by email or phone
  (``crm.duplicate.findbycomm``), then ``crm.lead.add``.
* Exactly once: the lead carries the submission's id in ORIGINATOR_ID/ORIGIN_ID (Bitrix24's
  fields for "record from an external system"). Before adding, the outbox asks the portal for a
  lead with that id, so a retry after a lost answer (the lead was made, the reply never came)
  finds the lead instead of making a second one.
* Spam-safe: the body and every field are size-capped, and a honeypot field that people never
  see (bots fill every field) makes the submission be thanked for and dropped.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, render_template_string, request

from crest.client import Client, RetryPolicy
from crest.errors import CrestError

log = logging.getLogger("website_form")

ORIGINATOR = "website-form"
MAX_BODY = 16 * 1024
#: Field -> longest accepted value. Anything else in the form is ignored.
FIELDS = {"name": 100, "email": 200, "phone": 40, "message": 4000}
HONEYPOT = "website"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Contact us</title>
<style>.hp { position: absolute; left: -10000px; } label { display: block; margin: .5em 0; }</style></head>
<body>
{% if thanks %}<p id="thanks">Thank you! We will get back to you soon.</p>{% endif %}
{% if error %}<p id="error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="/submit">
  <label>Name <input name="name" maxlength="100" required value="{{ form.name }}"></label>
  <label>Email <input name="email" type="email" maxlength="200" value="{{ form.email }}"></label>
  <label>Phone <input name="phone" maxlength="40" value="{{ form.phone }}"></label>
  <label>Message <textarea name="message" maxlength="4000">{{ form.message }}</textarea></label>
  <label class="hp" aria-hidden="true">Website <input name="website" tabindex="-1" autocomplete="off"></label>
  <button>Send</button>
</form></body></html>
"""


# --- the outbox ------------------------------------------------------------------------------------


@dataclass
class Submission:
    id: str
    fields: dict[str, str]
    attempts: int


class Outbox:
    """Submissions waiting for the portal, in SQLite: they outlive a crash or a restart."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.lock = threading.Lock()
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS outbox (id TEXT PRIMARY KEY, fields TEXT NOT NULL,"
            " attempts INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL DEFAULT 0,"
            " lead_id INTEGER, last_error TEXT)"
        )

    def add(self, fields: dict[str, str]) -> str:
        submission_id = uuid.uuid4().hex
        with self.lock:
            self.db.execute(
                "INSERT INTO outbox (id, fields) VALUES (?, ?)", (submission_id, json.dumps(fields))
            )
        return submission_id

    def due(self, now: float, limit: int = 20) -> list[Submission]:
        with self.lock:
            rows = self.db.execute(
                "SELECT id, fields, attempts FROM outbox WHERE lead_id IS NULL AND next_try <= ?"
                " ORDER BY next_try LIMIT ?",
                (now, limit),
            ).fetchall()
        return [Submission(r[0], json.loads(r[1]), r[2]) for r in rows]

    def delivered(self, submission_id: str, lead_id: int) -> None:
        with self.lock:
            self.db.execute(
                "UPDATE outbox SET lead_id = ?, last_error = NULL WHERE id = ?", (lead_id, submission_id)
            )

    def failed(self, submission_id: str, error: str, next_try: float) -> None:
        with self.lock:
            self.db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_try = ?, last_error = ? WHERE id = ?",
                (next_try, error[:500], submission_id),
            )

    def pending(self) -> int:
        with self.lock:
            return int(self.db.execute("SELECT COUNT(*) FROM outbox WHERE lead_id IS NULL").fetchone()[0])

    def lead_of(self, submission_id: str) -> int | None:
        with self.lock:
            row = self.db.execute("SELECT lead_id FROM outbox WHERE id = ?", (submission_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])


# --- delivery ----------------------------------------------------------------------------------------


def find_contact(client: Client, fields: dict[str, str]) -> int | None:
    for kind, value in (("EMAIL", fields.get("email")), ("PHONE", fields.get("phone"))):
        if not value:
            continue
        found = client.call(
            "crm.duplicate.findbycomm", {"type": kind, "values": [value], "entity_type": "CONTACT"}
        )
        # The answer is {"CONTACT": [ids]} when something matched, and [] (PHP's empty map) otherwise.
        ids = found.get("CONTACT") if isinstance(found, dict) else None
        if ids:
            return int(min(ids))  # the oldest contact: most likely the one the team knows
    return None


def deliver(client: Client, submission: Submission) -> int:
    """The lead for ``submission``: the one a previous attempt made, or a new one."""
    existing = client.call(
        "crm.lead.list",
        {"filter": {"ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": submission.id}, "select": ["ID"]},
    )
    if existing:
        return int(existing[0]["ID"])
    fields = submission.fields
    lead: dict[str, Any] = {
        "TITLE": f"Website form: {fields['name']}",
        "NAME": fields["name"],
        "COMMENTS": fields.get("message", ""),
        "SOURCE_ID": "WEB",
        "ORIGINATOR_ID": ORIGINATOR,
        "ORIGIN_ID": submission.id,
    }
    if fields.get("email"):
        lead["EMAIL"] = [{"VALUE": fields["email"], "VALUE_TYPE": "WORK"}]
    if fields.get("phone"):
        lead["PHONE"] = [{"VALUE": fields["phone"], "VALUE_TYPE": "WORK"}]
    contact_id = find_contact(client, fields)
    if contact_id is not None:
        lead["CONTACT_ID"] = contact_id
    return int(client.call("crm.lead.add", {"fields": lead}))


class Deliverer:
    """The background thread that empties the outbox into the CRM."""

    def __init__(
        self, outbox: Outbox, client: Client, *, poll: float = 0.5, backoff: float = 2.0, cap: float = 300.0
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.poll = poll
        self.backoff = backoff
        self.cap = cap
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self.run, name="website-form-outbox", daemon=True)

    def run_once(self) -> int:
        delivered = 0
        for submission in self.outbox.due(time.time()):
            try:
                lead_id = deliver(self.client, submission)
            except CrestError as exc:
                # The portal is down, busy, or answered an error: try again later, longer each time.
                delay = min(self.cap, self.backoff * 2**submission.attempts)
                self.outbox.failed(submission.id, f"{type(exc).__name__}: {exc}", time.time() + delay)
                log.warning("submission %s not delivered (%s); retry in %.0fs", submission.id, exc, delay)
                continue
            self.outbox.delivered(submission.id, lead_id)
            log.info("submission %s delivered: lead %d", submission.id, lead_id)
            delivered += 1
        return delivered

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.run_once()
            except Exception:  # a bug must not kill the thread and strand the outbox
                log.exception("outbox delivery failed")
            self.wake.wait(self.poll)
            self.wake.clear()

    def start(self) -> Deliverer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()
        self.thread.join(timeout=10)


# --- the website -----------------------------------------------------------------------------------


def clean(form: Any) -> tuple[dict[str, str], str | None]:
    """(fields, error): trimmed, size-checked fields, or why the form cannot be accepted."""
    fields = {name: str(form.get(name, "")).strip() for name in FIELDS}
    for name, limit in FIELDS.items():
        if len(fields[name]) > limit:
            return fields, f"The {name} is too long."
    if not fields["name"]:
        return fields, "Please tell us your name."
    if not fields["email"] and not fields["phone"]:
        return fields, "Please leave an email or a phone number."
    if fields["email"] and not _EMAIL.match(fields["email"]):
        return fields, "That email address does not look right."
    return fields, None


def create_form_app(outbox: Outbox, deliverer: Deliverer | None = None) -> Flask:
    app = Flask("website_form")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_BODY
    empty = dict.fromkeys(FIELDS, "")

    @app.get("/")
    def index() -> str:
        return render_template_string(PAGE, form=empty, thanks=False, error=None)

    @app.post("/submit")
    def submit() -> tuple[str, int]:
        if request.form.get(HONEYPOT):
            # A bot: thank it like a person, so it learns nothing, and keep nothing.
            log.info("honeypot filled; submission dropped")
            return render_template_string(PAGE, form=empty, thanks=True, error=None), 200
        fields, error = clean(request.form)
        if error:
            return render_template_string(PAGE, form=fields, thanks=False, error=error), 400
        outbox.add(fields)  # committed before the answer: from here on it cannot be lost
        if deliverer is not None:
            deliverer.wake.set()
        return render_template_string(PAGE, form=empty, thanks=True, error=None), 200

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--webhook", required=True, help="incoming webhook URL with the crm scope")
    parser.add_argument(
        "--outbox", type=Path, default=Path("website-form-outbox.sqlite"), help="the outbox file"
    )
    parser.add_argument("--port", type=int, default=5080)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    outbox = Outbox(args.outbox)
    # Few quick retries inside one attempt; the outbox does the patient retrying.
    client = Client.from_webhook(args.webhook, retry=RetryPolicy(not_sent=1, unknown_outcome=1, backoff=0.2))
    deliverer = Deliverer(outbox, client).start()
    print(f"form: http://127.0.0.1:{args.port}/  ({outbox.pending()} submission(s) waiting in {args.outbox})")
    try:
        create_form_app(outbox, deliverer).run("127.0.0.1", args.port)
    finally:
        deliverer.stop()


if __name__ == "__main__":
    main()
