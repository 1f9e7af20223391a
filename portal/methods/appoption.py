"""REST methods: app.option.*."""
