"""Seed data: a deterministic CRM (from ``config.seed``) for a portal that starts empty.

The same seed always gives the same records, so tests and benchmarks can rely on counts
and values. Rows are built as plain dicts and written with one ``put_many`` per kind, which
keeps 100,000 contacts around a second.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from itertools import count
from typing import TYPE_CHECKING, Any, TypeVar

from portal.crm import DEFAULTS

if TYPE_CHECKING:
    from portal.config import PortalConfig
    from portal.crm import CrmStore

_T = TypeVar("_T")

FIRST_NAMES = (
    "Anna", "Boris", "Clara", "Dmitri", "Elena", "Felix", "Galina", "Hugo", "Irina", "Jonas",
    "Katarina", "Leon", "Marta", "Nikolai", "Olivia", "Pyotr", "Quinn", "Rosa", "Sergei", "Tatiana",
    "Ulrich", "Vera", "Walter", "Xenia", "Yuri", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Andersen", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hoffmann", "Ivanov",
    "Jansen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Olsen", "Petrov", "Rossi", "Schmidt",
    "Tanaka", "Usman", "Volkov", "Weber", "Yilmaz", "Zimmermann",
)  # fmt: skip
COMPANY_WORDS = (
    "Alpine", "Baltic", "Cedar", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris", "Juniper",
    "Keystone", "Lumen", "Meridian", "Northwind", "Orion", "Pioneer", "Quartz", "Redwood", "Summit", "Tidal",
)  # fmt: skip
COMPANY_KINDS = ("Logistics", "Software", "Foods", "Consulting", "Energy", "Textiles", "Media", "Robotics")
DEAL_STAGES = ("NEW", "PREPARATION", "PREPAYMENT_INVOICE", "EXECUTING", "FINAL_INVOICE", "WON", "LOSE")
LEAD_STATUSES = ("NEW", "IN_PROCESS", "PROCESSED", "CONVERTED", "JUNK")
SOURCES = ("CALL", "EMAIL", "WEB", "ADVERTISING", "PARTNER", "RECOMMENDATION", "SELF")

# Seed records were created over 2024. Timestamps are assembled from precomputed parts: at
# 100,000 rows, formatting each datetime would cost more than everything else together.
_DAYS = [(dt.date(2024, 1, 1) + dt.timedelta(days=d)).isoformat() + "T" for d in range(366)]
_MINUTES = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECONDS = [f"{s:02d}+00:00" for s in range(60)]


class _Seeder:
    """Builds rows for one seed; ``pick(n)`` is a fast ``randrange(n)``."""

    def __init__(self, store: CrmStore, seed_value: int) -> None:
        self.store = store
        self.rng = random.Random(seed_value)
        self.fm = count(int(store.seq.get("fm") or 0) + 1)

    def pick(self, n: int) -> int:
        return int(self.rng.random() * n)

    def choice(self, options: Sequence[_T]) -> _T:
        return options[int(self.rng.random() * len(options))]

    def stamp(self, day: int) -> str:
        return _DAYS[day] + _MINUTES[self.pick(1440)] + _SECONDS[self.pick(60)]

    def multi(self, type_id: str, value_type: str, value: str) -> list[dict[str, str]]:
        return [{"ID": str(next(self.fm)), "VALUE_TYPE": value_type, "VALUE": value, "TYPE_ID": type_id}]

    def phone(self) -> str:
        return f"+1 {200 + self.pick(790)} {200 + self.pick(800)}-{self.pick(10000):04d}"

    def related(self, name: str) -> str | None:
        ids = self.store.entities[name].ids
        return str(ids[self.pick(len(ids))]) if ids else None

    def blank(self, template: dict[str, Any], record_id: int) -> dict[str, Any]:
        row = template.copy()
        day = self.pick(len(_DAYS))
        user = str(1 + self.pick(3))
        row.update(
            ID=str(record_id),
            ASSIGNED_BY_ID=user,
            CREATED_BY_ID=user,
            MODIFY_BY_ID=user,
            DATE_CREATE=self.stamp(day),
            DATE_MODIFY=self.stamp(min(len(_DAYS) - 1, day + 1 + self.pick(30))),
        )
        return row

    def person(self, row: dict[str, Any], record_id: int) -> tuple[str, str]:
        first, last = self.choice(FIRST_NAMES), self.choice(LAST_NAMES)
        # The id in the address keeps every e-mail unique, whatever the name collisions.
        row.update(
            NAME=first,
            LAST_NAME=last,
            HAS_PHONE="Y",
            HAS_EMAIL="Y",
            PHONE=self.multi("PHONE", self.choice(("WORK", "MOBILE")), self.phone()),
            EMAIL=self.multi("EMAIL", "WORK", f"{first}.{last}.{record_id}@example.com".lower()),
        )
        return first, last

    def contact(self, row: dict[str, Any], record_id: int) -> None:
        self.person(row, record_id)
        company = self.related("company")
        row.update(
            POST=self.choice(("Manager", "Engineer", "Buyer", "CEO", "Accountant", None)),
            SOURCE_ID=self.choice(SOURCES),
            COMPANY_ID=company,
            COMPANY_IDS=[company] if company else [],
        )
        if self.pick(2):
            row["BIRTHDATE"] = (
                f"{1950 + self.pick(54)}-{1 + self.pick(12):02d}-{1 + self.pick(28):02d}T00:00:00+00:00"
            )

    def company(self, row: dict[str, Any], record_id: int) -> None:
        row.update(
            TITLE=f"{self.choice(COMPANY_WORDS)} {self.choice(COMPANY_KINDS)} #{record_id}",
            REVENUE=f"{(1 + self.pick(5000)) * 1000:.2f}",
            HAS_PHONE="Y",
            HAS_EMAIL="N",
            PHONE=self.multi("PHONE", "WORK", self.phone()),
            WEB=self.multi("WEB", "WORK", f"https://company{record_id}.example.com"),
        )

    def lead(self, row: dict[str, Any], record_id: int) -> None:
        first, last = self.person(row, record_id)
        row.update(
            TITLE=f"Lead #{record_id}: {first} {last}",
            STATUS_ID=self.choice(LEAD_STATUSES),
            SOURCE_ID=self.choice(SOURCES),
            OPPORTUNITY=f"{self.pick(501) * 100:.2f}",
        )

    def deal(self, row: dict[str, Any], record_id: int) -> None:
        stage = self.choice(DEAL_STAGES)
        contact = self.related("contact")
        row.update(
            TITLE=f"Deal #{record_id}",
            STAGE_ID=stage,
            CLOSED="Y" if stage in {"WON", "LOSE"} else "N",
            OPPORTUNITY=f"{(1 + self.pick(2000)) * 50:.2f}",
            PROBABILITY=str(self.choice((10, 25, 50, 75, 90))),
            CONTACT_ID=contact,
            CONTACT_IDS=[contact] if contact else [],
            COMPANY_ID=self.related("company"),
            BEGINDATE=row["DATE_CREATE"][:10] + "T00:00:00+00:00",
        )


def seed(store: CrmStore, config: PortalConfig) -> None:
    """Add ``config.companies``/``contacts``/``leads``/``deals`` records (companies first, so
    that contacts and deals can point at them)."""
    seeder = _Seeder(store, config.seed)
    plan: tuple[tuple[str, int, Callable[[dict[str, Any], int], None]], ...] = (
        ("company", config.companies, seeder.company),
        ("contact", config.contacts, seeder.contact),
        ("lead", config.leads, seeder.lead),
        ("deal", config.deals, seeder.deal),
    )
    for name, how_many, fill in plan:
        if how_many <= 0:
            continue
        entity = store.entities[name]
        template: dict[str, Any] = {f.name: None for f in entity.schema if f.type != "crm_multifield"}
        template.update(DEFAULTS[name])
        rows = []
        for record_id in entity.reserve(how_many):
            row = seeder.blank(template, record_id)
            fill(row, record_id)
            rows.append((record_id, row))
        entity.insert_many(rows)
    store.seq.put("fm", next(seeder.fm) - 1)
