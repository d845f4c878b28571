"""Tools for development, tests and benchmarks: never used by the running service."""
