"""REST methods: placement."""
