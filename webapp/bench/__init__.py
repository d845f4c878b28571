"""The performance benchmark behind `yuebao bench` (see BENCHMARKS.md)."""
