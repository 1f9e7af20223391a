"""The client is framework-free: importing it loads neither Flask nor the local portal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


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


# --- the same rules as import-linter contracts (`make lint`), on a copy of the tree ----------

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _tree_copy(tmp_path: Path) -> Path:
    for package in ("crest", "webapp", "portal"):
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "static", "templates"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy first on the path, so grimp reads it and not the installed tree.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, check=False
    )


def test_the_import_contracts_hold_for_the_tree(tmp_path: Path) -> None:
    result = _lint_imports(_tree_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("crest/errors.py", "import portal.config", "crest (its command line aside) imports neither"),
        ("crest/batch.py", "from flask import Flask", "crest (its command line aside) imports neither"),
        ("webapp/events.py", "from portal.testing import running_portal", "webapp never imports portal"),
        ("portal/crm.py", "import webapp.factory", "portal never imports webapp"),
        ("crest/forms.py", "from crest import batch", "no import cycles inside crest"),
    ],
)
def test_a_planted_forbidden_import_breaks_lint(
    tmp_path: Path, module: str, planted: str, contract: str
) -> None:
    tree = _tree_copy(tmp_path)
    path = tree / module
    # Inside a function, as the lazy imports that used to slip through were.
    path.write_text(path.read_text() + f"\n\ndef _planted() -> None:\n    {planted}  # noqa\n")
    result = _lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
    assert "." + Path(module).stem in broken  # the planted import is named
