"""Events: what happens to a message after it is sent.

SES events through SNS: `inbox.py` stores verified notifications as they arrive (the hook, or
the SQS queue the worker reads: `sqs.py` receives, verifies, stores, then deletes), `batch.py`
is how the workers apply them in batches, and `ses.py` verifies a POST and holds the rules of
one event (match to a delivery, settle, suppress); and our
own open and click tracking (`tracking.py`); and webhooks out to the firm's systems
(`webhooks.py`: endpoints as admins manage them; `webhook_urls.py`: the SSRF rules, at
registration and at every connection; `webhook_sender.py`: the worker's signed POSTs, retries
and disabling). Events are queued where they happen, through `webapp.webhook_queue`.
"""
