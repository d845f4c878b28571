"""Events: what happens to a message after it is sent.

SES events through SNS (`ses.py`: verify, store, match to a delivery, settle, suppress), or
through an SQS queue the worker reads (`sqs.py`: receive, verify, store, then delete), and our
own open and click tracking (`tracking.py`); and webhooks out to the firm's systems
(`webhooks.py`: endpoints as admins manage them; `webhook_urls.py`: the SSRF rules, at
registration and at every connection; `webhook_sender.py`: the worker's signed POSTs, retries
and disabling). Events are queued where they happen, through `webapp.webhook_queue`.
"""
