"""Tests of webapp/accounts/: console users, sign-in checks, two-factor, password reset."""
