"""Tests of webapp/stats/: counters and their recount, figures, progress, reputation."""
