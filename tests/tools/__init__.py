"""What only development uses, never shipped in the wheel: the SES simulator, the benchmark, the
throwaway PostgreSQL server and the crash points of the kill -9 tests."""
