"""Readers: the first stage of the flow, everything about who receives the report.

Subscribing and double opt-in, preferences and pauses, the consent ledger, a reader's own data
(export, erasure), the links and system mails a reader is sent, readers and CSV as admins manage
them, the topics readers choose, and suppressions (addresses never to be mailed again).
"""
