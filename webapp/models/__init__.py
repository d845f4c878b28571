"""All models, imported here so Alembic and the app see one complete metadata."""

from webapp.models.api_key import SCOPES, ApiKey
from webapp.models.audit import AuditEntry
from webapp.models.base import Base, utcnow
from webapp.models.branding import BRANDING_ID, Branding
from webapp.models.delivery import Delivery, DeliveryStatus
from webapp.models.edition import (
    EDITABLE_STATUSES,
    SECTION_KEYS,
    Edition,
    EditionLayout,
    EditionStatus,
    EnglishStatus,
    Item,
    Section,
    UntranslatedPolicy,
    item_topics,
)
from webapp.models.event import Event, SnsReceipt
from webapp.models.job import BackgroundJob, ImportRow, JobKind, JobStatus, OutboxFile
from webapp.models.recovery_code import RecoveryCode
from webapp.models.sign_in import PendingSignIn
from webapp.models.stats import (
    DeliveryOutcome,
    EditionMinute,
    EditionMinuteChange,
    EditionTally,
    EditionTallyChange,
    ItemClick,
    ItemTally,
    ItemTallyChange,
    ReaderMonth,
    ReaderMonthChange,
)
from webapp.models.subscriber import (
    LANGUAGES,
    ConsentRecord,
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    SubscriberToken,
    email_key,
    subscriber_topics,
)
from webapp.models.suppression import Suppression
from webapp.models.test_send import TestSend
from webapp.models.topic import Topic
from webapp.models.user import Role, User
from webapp.models.webhook import (
    TEST_EVENT,
    WEBHOOK_EVENTS,
    WebhookEndpoint,
    WebhookMessage,
    WebhookStatus,
)
from webapp.models.worker import Lease, RateBucket, ScheduleRule, WorkerHeartbeat

__all__ = [
    "BRANDING_ID",
    "EDITABLE_STATUSES",
    "LANGUAGES",
    "SCOPES",
    "SECTION_KEYS",
    "TEST_EVENT",
    "WEBHOOK_EVENTS",
    "ApiKey",
    "AuditEntry",
    "BackgroundJob",
    "Base",
    "Branding",
    "ConsentRecord",
    "ConsentSource",
    "Delivery",
    "DeliveryOutcome",
    "DeliveryStatus",
    "Edition",
    "EditionLayout",
    "EditionMinute",
    "EditionMinuteChange",
    "EditionStatus",
    "EditionTally",
    "EditionTallyChange",
    "EnglishStatus",
    "Event",
    "ImportRow",
    "Item",
    "ItemClick",
    "ItemTally",
    "ItemTallyChange",
    "JobKind",
    "JobStatus",
    "Lease",
    "OutboxFile",
    "PendingSignIn",
    "RateBucket",
    "ReaderMonth",
    "ReaderMonthChange",
    "RecoveryCode",
    "Role",
    "ScheduleRule",
    "Section",
    "SnsReceipt",
    "Subscriber",
    "SubscriberStatus",
    "SubscriberToken",
    "Suppression",
    "TestSend",
    "Topic",
    "UntranslatedPolicy",
    "User",
    "WebhookEndpoint",
    "WebhookMessage",
    "WebhookStatus",
    "WorkerHeartbeat",
    "email_key",
    "item_topics",
    "subscriber_topics",
    "utcnow",
]
