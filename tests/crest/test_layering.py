"""The client is framework-free: importing it loads neither Flask nor the local portal."""

from __future__ import annotations

import subprocess
import sys


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def test_import_crest_loads_no_flask_and_no_portal() -> None:
    modules = _loaded_after(
        "import crest, crest.client, crest.compat, crest.stores, crest.events, crest.inbox"
    )
    assert "crest.client" in modules
    assert not {m for m in modules if m == "flask" or m.startswith(("flask.", "werkzeug"))}
    assert not {m for m in modules if m == "portal" or m.startswith("portal.")}


def test_the_application_does_not_import_the_portal() -> None:
    modules = _loaded_after("import webapp; webapp.create_app")
    assert "flask" in modules
    assert not {m for m in modules if m == "portal" or m.startswith("portal.")}
