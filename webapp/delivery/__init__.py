"""The delivery engine: claims planned deliveries, sends them in paced batches, settles them.

Two narrow interfaces, as in listmonk: the store hands out batches and records outcomes
(`store.py`); a batch transport from emails/ pushes messages (SES bulk or outbox).
"""
