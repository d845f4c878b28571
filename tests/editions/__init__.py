"""Tests of webapp/editions/: the importer, editions, items, uploads, previews, archive, outbox."""
