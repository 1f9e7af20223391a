"""Admin API for event delivery (outgoing webhooks, delivery record) under ``/_portal/``."""

from __future__ import annotations

from flask import Blueprint

from portal.admin import loopback_only

bp = Blueprint("admin_events", __name__, url_prefix="/_portal")
bp.before_request(loopback_only)
