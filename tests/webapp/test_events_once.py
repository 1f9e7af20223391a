"""Events reach a handler once per change: online POST and offline-queue copies, re-deliveries.

The app binds each CRM event online *and* offline (T20), so the real local portal hands it
every change twice: as a POST to ``/events`` and as a row of ``event.offline.get``. The inbox
must store them as one change (``EVENT|member_id|record|unix-second``), and two changes of one
record as two.
"""

from __future__ import annotations

from collections import Counter

from crest.client import Client
from crest.events import Event, EventContext
from portal.app_testing import AppHandle
from webapp.events import events_state, router


def test_online_and_offline_copies_of_one_change_run_the_handler_once(installed: AppHandle) -> None:
    app = installed
    calls: Counter[tuple[str, str]] = Counter()

    @router(app.app).on("ONCRMCONTACTADD", "ONCRMCONTACTUPDATE")
    def changed(event: Event, ctx: EventContext) -> None:
        calls[(event.name, str(event.entity_id))] += 1

    st = events_state(app.app)
    assert st.worker is not None and st.worker.recovery is not None
    # A stopped clock: the POST's ts and the offline row's TIMESTAMP_X fall in one second, as on
    # a portal that writes both at the moment of the change.
    app.portal.freeze_clock()
    webhook = Client.from_webhook(app.portal.add_webhook(), ca_bundle=app.portal.ca_bundle)
    contact = str(webhook.call("crm.contact.add", {"fields": {"NAME": "Ada"}}))
    app.portal.advance(5)
    webhook.call("crm.contact.update", {"ID": contact, "fields": {"NAME": "Ada L."}})
    app.portal.advance(5)
    webhook.call("crm.contact.update", {"ID": contact, "fields": {"NAME": "Ada Lovelace"}})
    app.portal.admin("POST", "deliveries/flush", {"timeout": 10})
    posted = [d for d in app.portal.admin("GET", "deliveries") if d["event"].startswith("ONCRMCONTACT")]
    assert len(posted) == 3 and all(d["status"] == 200 for d in posted), posted
    queued = {row["EVENT_NAME"] for row in app.portal.portal.events.offline_rows(app.client_id)}
    assert queued == {"ONCRMCONTACTADD", "ONCRMCONTACTUPDATE"}  # the same changes, queued offline

    st.worker.drain()
    # The offline copies come in: the add, and the latest update (the queue keeps one per record).
    st.worker.recovery.run_all()
    st.worker.drain()
    assert not app.portal.portal.events.offline_rows(app.client_id)  # read and cleared
    assert calls == {("ONCRMCONTACTADD", contact): 1, ("ONCRMCONTACTUPDATE", contact): 2}
    assert st.inbox.counts()["done"] == 3


def test_a_redelivery_with_other_tokens_is_the_same_change(installed: AppHandle) -> None:
    app = installed
    calls: list[str] = []

    @router(app.app).on("ONCRMDEALADD")
    def added(event: Event, ctx: EventContext) -> None:
        calls.append(str(event.entity_id))

    st = events_state(app.app)
    [installation] = app.store.all_installations()
    body = {
        "event": "ONCRMDEALADD",
        "data": {"FIELDS": {"ID": "7405"}},
        "ts": "1766047124",
        "auth": {
            "member_id": installation.member_id,
            "domain": installation.domain,
            "application_token": app.application_token,
            "access_token": "first-token",
        },
    }
    first = app.http.post(app.url + "/events", json=body, timeout=10)
    again = app.http.post(
        app.url + "/events", json={**body, "auth": {**body["auth"], "access_token": "second"}}, timeout=10
    )
    later = app.http.post(app.url + "/events", json={**body, "ts": "1766047125"}, timeout=10)
    assert [first.status_code, again.status_code, later.status_code] == [200, 200, 200]
    assert st.worker is not None
    st.worker.drain()
    assert calls == ["7405", "7405"]  # the re-delivery once; the change a second later is new
