"""Tests of webapp/readers/: subscribing, confirming, preferences, own data, CSV, housekeeping."""
