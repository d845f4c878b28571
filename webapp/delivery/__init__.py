"""Delivery: from an approved edition to messages handed to the transport.

The send as a state machine (`sending.py`: approve, schedule, start, pause, resume, cancel), the
recipient plan written before anything is sent (`plan.py`), variants (`variants.py`), the
estimate shown before a send (`estimate.py`), a delivery as its reader sees it
(`deliveries.py`), and the engine that claims planned deliveries, sends them in paced batches and
settles them. Two narrow interfaces, as in listmonk: the store hands out batches and records
outcomes (`store.py`); a batch transport from emails/ pushes messages (SES bulk or outbox).
A worker rides out a busy or restarting database for WORKER_DB_GRACE_SECONDS (`outages.py`).
Beside the engine, the worker's background jobs (`jobs.py`): system mails queued with the change
that calls for them, and the redaction of erased readers' outbox files.
"""
