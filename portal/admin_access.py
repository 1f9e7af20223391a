"""Who may drive the ``/_portal/`` admin API: the portal's own address, loopback, the admin token.

The admin API can switch on outages, upload static apps, mint tokens and mark the portal
deleted, so a web page the developer happens to open must not reach it. Three checks, in
this order, on every request under ``/_portal/``:

1. the peer is on loopback (anything else: 404, the API does not exist for it);
2. the ``Host`` header names this portal (its base URL's host:port, or one of the addresses
   its server really listens as): otherwise 403. A DNS-rebound name (``evil.example:PORT``
   resolving to 127.0.0.1) carries its own name in ``Host``, so it stops here;
3. the per-portal admin token is in ``Authorization: Bearer <token>`` or
   ``X-Portal-Admin-Token``: otherwise 401. A cross-site page cannot add either header
   without a CORS preflight, which the admin API never grants (it answers no CORS at all),
   so neither a form post nor a ``fetch`` from another origin gets through. The token never
   travels in a URL, where logs and the Referer would keep it.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from flask import Response, jsonify, request

from portal.core import Portal

PREFIX = "/_portal/"
TOKEN_HEADER = "X-Portal-Admin-Token"  # noqa: S105  (a header name, not a secret)

#: Names a loopback listener really answers to; ``localhost`` and ``127.0.0.1`` are the same socket.
_LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def listening_hosts(host: str, port: int) -> tuple[str, ...]:
    """The ``Host`` values a server bound to ``host:port`` is reached as from this machine."""
    bracketed = f"[{host}]" if ":" in host else host
    names = {f"{bracketed}:{port}"}
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if host == "localhost" or (address is not None and (address.is_loopback or address.is_unspecified)):
        # A wildcard bind listens on loopback too; its other addresses are not "this portal's own".
        names.update(f"{name}:{port}" for name in _LOOPBACK_NAMES)
        if address is not None and address.version == 6:
            names.add(f"[::1]:{port}")
    return tuple(sorted(names))


def _own_hosts(p: Portal) -> set[str]:
    hosts = {h.lower() for h in p.config.admin_hosts}
    if p.config.base_url:
        hosts.add(urlsplit(p.config.base_url).netloc.lower())
        # The current address too, once the admin API itself renamed the portal (domain-change).
        hosts.add(p.domain.lower())
    return hosts


def _is_own_host(p: Portal, host: str) -> bool:
    hosts = _own_hosts(p)
    if hosts:
        return host.lower() in hosts
    # No address configured (create_portal() alone; the base URL is learned from the first
    # request, which may itself be the attacker's): only loopback names, never a DNS name
    # that an attacker could point at 127.0.0.1.
    name = urlsplit(f"//{host}").hostname or ""
    return name in {"127.0.0.1", "localhost", "::1"}


def presented_token() -> str:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get(TOKEN_HEADER, "").strip()


def _refuse(status: int, error: str, description: str) -> Response:
    resp = jsonify({"error": error, "error_description": description})
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="b24portal admin"'
    return resp


def check(p: Portal) -> Response | None:
    """``None`` when the current request may use the admin API, else the refusal to send."""
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return _refuse(404, "NOT_FOUND", "Not found")
    if not _is_own_host(p, request.host):
        return _refuse(403, "WRONG_HOST", "The admin API answers only on the portal's own address")
    token = presented_token()
    # Compared as bytes: compare_digest refuses non-ASCII str, and a header may carry any.
    if not token or not secrets.compare_digest(token.encode(), p.admin_token.encode()):
        return _refuse(
            401,
            "ADMIN_TOKEN_REQUIRED",
            f"Send the portal's admin token as 'Authorization: Bearer <token>' or {TOKEN_HEADER}",
        )
    return None
