"""The portal's employees (``user.*``, ``profile``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portal.persist import Table

if TYPE_CHECKING:
    from portal.core import Portal

_SEED_USERS = [
    (1, "Maria", "Ivanova", "Director", True),
    (2, "Pavel", "Sokolov", "Sales manager", False),
    (3, "Olga", "Morozova", "Accountant", False),
]


class Directory:
    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.users: Table[int] = Table(portal.persist, "user", int)
        if not self.users:
            for uid, name, last, position, admin in _SEED_USERS:
                self.users.put(uid, self._seed_user(uid, name, last, position, admin))

    @staticmethod
    def _seed_user(uid: int, name: str, last: str, position: str, admin: bool) -> dict[str, Any]:
        return {
            "ID": str(uid),
            "XML_ID": f"user-{uid}",
            "ACTIVE": True,
            "NAME": name,
            "LAST_NAME": last,
            "SECOND_NAME": "",
            "EMAIL": f"{name.lower()}.{last.lower()}@example.com",
            "LAST_LOGIN": "2026-11-02T09:00:00+00:00",
            "DATE_REGISTER": "2024-01-15T00:00:00+00:00",
            "TIME_ZONE": "",
            "IS_ONLINE": "Y" if uid == 1 else "N",
            "TIMESTAMP_X": "2026-11-02T09:00:00+00:00",
            "LAST_ACTIVITY_DATE": "2026-11-02 09:00:00",
            "PERSONAL_GENDER": "F" if name.endswith("a") else "M",
            "PERSONAL_BIRTHDAY": "",
            "PERSONAL_PHOTO": "",
            "WORK_POSITION": position,
            "WORK_PHONE": "",
            "UF_EMPLOYMENT_DATE": "",
            "UF_DEPARTMENT": [1],
            "USER_TYPE": "employee",
            "_ADMIN": admin,
        }

    def get(self, user_id: int) -> dict[str, Any] | None:
        user = self.users.get(user_id)
        return dict(user) if user else None

    def is_admin(self, user_id: int) -> bool:
        user = self.users.get(user_id)
        return bool(user and user.get("_ADMIN"))

    @staticmethod
    def public(user: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in user.items() if not k.startswith("_")}

    def full_name(self, user_id: int) -> str:
        user = self.users.get(user_id) or {}
        return f"{user.get('NAME', '')} {user.get('LAST_NAME', '')}".strip()
