"""REST methods: events."""
