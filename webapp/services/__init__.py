"""Business operations shared by the web app, the worker and the CLI (no HTTP in here)."""
