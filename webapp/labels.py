"""Display names of states, in the page's language."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l


def status_labels() -> dict[str, object]:
    """Edition, delivery and subscriber states as readers of the console see them."""
    return {
        "draft": _l("Draft"),
        "approved": _l("Approved"),
        "scheduled": _l("Scheduled"),
        "sending": _l("Sending"),
        "paused": _l("Paused"),
        "sent": _l("Sent"),
        "cancelled": _l("Cancelled"),
        "pending": _l("Pending"),
        "active": _l("Active"),
        "unsubscribed": _l("Unsubscribed"),
        "bounced": _l("Bounced"),
        "complained": _l("Complained"),
        "erased": _l("Erased"),
        "queued": _l("Queued"),
        "in_doubt": _l("In doubt"),
        "failed": _l("Failed"),
        "skipped": _l("Skipped"),
    }
