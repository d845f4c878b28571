"""Events: what happens to a message after it is sent.

SES events through SNS (`ses.py`: verify, store, match to a delivery, settle, suppress) and our
own open and click tracking (`tracking.py`).
"""
