"""Editions: one month's report, from the file the firm has to an edition ready to send.

The report importer (`importer/`: parser, its errors, topic suggestions), importing and finding
editions, uploads, editing items, previews of any variant, test sends, the public archive, and
reading the outbox transport's messages back.
"""
