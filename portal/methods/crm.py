"""REST methods: crm."""
