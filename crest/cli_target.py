"""``module:attr`` of the user's own code, imported as ``gunicorn myapp:app`` and ``flask --app``
do: from the current folder, with one clear line instead of a traceback when it fails."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

__all__ = ["import_target"]


def import_target(spec: str, option: str, example: str) -> Any:
    """The object ``spec`` (``module:attr``) names; :class:`click.ClickException` if it cannot be had."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise click.ClickException(f"{option} {spec!r}: use module:attr, e.g. {example}")
    # The current folder comes first, so the user's own module is found (the console script's
    # sys.path[0] is its bin folder).
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        where = f"in {cwd}" if exc.name == module_name.split(".")[0] else "(a module it imports)"
        raise click.ClickException(f"{option} {spec}: no module named {exc.name!r} {where}") from None
    except Exception as exc:  # the user's module failed: say where, without a traceback
        raise click.ClickException(
            f"{option} {spec}: importing {module_name} failed: {type(exc).__name__}: {exc}"
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise click.ClickException(f"{option} {spec}: {module_name} has no attribute {attr!r}") from None
