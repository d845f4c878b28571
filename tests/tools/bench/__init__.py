"""The performance benchmark: `make bench`, `make bench-full` or `python -m tests.tools.bench` (see
BENCHMARKS.md)."""
