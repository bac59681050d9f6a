"""Business logic, callable from routes, the CLI and workers alike."""
