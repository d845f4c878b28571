"""Tests of webapp/editions/importer/: the report parser, its errors and topic suggestions."""
