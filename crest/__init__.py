"""b24-crest: a Python port of Bitrix24's CRest SDK, and more."""

from __future__ import annotations

__version__ = "0.1.0"
