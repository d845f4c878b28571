"""The rehearsal: a month in the life of an installation, run as one test per database."""
