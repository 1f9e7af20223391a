"""The Flask application a Bitrix24 portal installs and opens in its iframe.

``create_app(settings=None, *, store=None) -> Flask`` is the factory; blueprints are thin:
parse with crest, call crest, render or answer.
"""

from __future__ import annotations

from webapp.factory import create_app

__all__ = ["create_app"]
