"""The portal's pages for people: the left menu of applications and the iframe that opens them."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ui", __name__)
