"""Shared test setup. The ``portal`` fixture comes from the b24portal pytest plugin (portal.pytest_plugin)."""
