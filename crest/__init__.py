"""b24-crest: a Python port of Bitrix24's CRest SDK, and more.

    from crest import Client
    client = Client.from_webhook("https://portal.bitrix24.com/rest/1/secret/")
    me = client.call("user.current")

``import crest`` loads only the client (stdlib + requests), never Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["BatchResult", "Client", "Command", "CrestError", "Response", "__version__"]

if TYPE_CHECKING:
    from crest.batch import BatchResult, Command
    from crest.client import Client, Response
    from crest.errors import CrestError

_LAZY = {
    "Client": "crest.client",
    "Response": "crest.client",
    "BatchResult": "crest.batch",
    "Command": "crest.batch",
    "CrestError": "crest.errors",
}


def __getattr__(name: str) -> Any:
    # Lazy so that `crest.errors` or `crest.forms` can be imported without requests.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'crest' has no attribute {name!r}")
