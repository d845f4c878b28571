"""Console accounts: the editors and admins who sign in, not the readers.

Users and their passwords, user administration and invitations, TOTP two-factor sign-in and
password reset by signed, expiring link.
"""
