"""REST methods: tasks."""
