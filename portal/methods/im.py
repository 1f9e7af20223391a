"""REST methods: im."""
