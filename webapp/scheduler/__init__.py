"""Scheduled work: due sends, the monthly rule, housekeeping — run by one worker at a time."""
