"""Every reason a service can refuse an editor's or admin's change reads as Chinese in the
zh-CN console, never as the English `str()` meant for the CLI and logs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask import Flask

from webapp.accounts.user_admin import InvitationNotNeeded, LastAdmin, OwnAccount
from webapp.accounts.users import PasswordTooShort, UserAddressInvalid, UserError, UserExists
from webapp.admin.refusals import explain as admin_explain
from webapp.branding import (
    BrandingError,
    BrandingTextInvalid,
    ColourContrastTooLow,
    ColourInvalid,
    LogoError,
    LogoNotAnImage,
    LogoTooLarge,
    LogoTooManyPixels,
)
from webapp.delivery.sending import (
    EditionHasNoItems,
    ItemsWithoutTopic,
    NoItemHasTopic,
    ScheduleInPast,
    UntranslatedForEnglishReaders,
    WrongEditionState,
)
from webapp.editions.importer.contents import MissingPart
from webapp.editions.importer.errors import ReportIncomplete
from webapp.editions.items import (
    ContentProblem,
    ItemInvalid,
    LinkNotWeb,
    TextTooLong,
    TextUnsafe,
    TitleMissing,
    UnknownSection,
    UnknownTopic,
    UnsafeContent,
)
from webapp.editor.common import explain as editor_explain
from webapp.models import Edition, EditionStatus, Subscriber
from webapp.plain_text import UnsafeText, UnsafeUrl
from webapp.readers.reader_admin import (
    AddressErased,
    ConsentNotStated,
    LanguageUnknown,
    NoListedTopic,
    ReaderAddressInvalid,
    ReaderAdminError,
    ReaderErased,
    ReaderExists,
    ReaderSuppressed,
)
from webapp.readers.suppression_admin import (
    LiftWithoutReason,
    SuppressionAddressInvalid,
    SuppressionError,
)
from webapp.readers.topic_admin import (
    LastActiveTopic,
    TopicError,
    TopicExists,
    TopicNamesMissing,
    TopicSlugInvalid,
    TopicTextTooLong,
)

ADMIN_REFUSALS: list[Exception] = [
    ReaderExists(Subscriber(email="someone@example.com")),
    ReaderAddressInvalid("The email address is not valid."),
    ReaderSuppressed("someone@example.com"),
    AddressErased("someone@example.com"),
    NoListedTopic(),
    LanguageUnknown(),
    ConsentNotStated(),
    ReaderErased(),
    TopicNamesMissing(),
    TopicTextTooLong("keywords", 60),
    TopicSlugInvalid(),
    TopicExists("data-privacy"),
    LastActiveTopic(),
    UserAddressInvalid("The email address is not valid."),
    UserExists("someone@example.com"),
    PasswordTooShort(12),
    OwnAccount("you cannot deactivate your own account"),
    LastAdmin("the console needs at least one active admin"),
    InvitationNotNeeded("someone@example.com has signed in already"),
    SuppressionAddressInvalid("The email address is not valid."),
    LiftWithoutReason(),
    BrandingTextInvalid("footer_zh", limit=500),
    BrandingTextInvalid("org_name_zh", unsafe=UnsafeText(index=1, codepoint=7)),
    ColourInvalid("primary", "navy"),
    ColourContrastTooLow("accent", "#c9aa70", "#ffffff", "background", 2.21),
    LogoTooLarge(300 * 1024),
    LogoNotAnImage(),
    LogoTooManyPixels(9000, 300),
]

EDITOR_REFUSALS: list[Exception] = [
    UnknownSection("sports"),
    TitleMissing(),
    LinkNotWeb(),
    UnknownTopic("no-such-topic"),
    TextTooLong("subject", 300),
    TextUnsafe("subject", UnsafeText(index=2, codepoint=13)),
    UnsafeContent("2024-08", [
        ContentProblem("subject", UnsafeText(index=2, codepoint=13)),
        ContentProblem("url", UnsafeUrl("javascript:x"), item_number=2, item_title="AI"),
    ]),
    WrongEditionState(
        Edition(month="2024-08", status=EditionStatus.SENT), {EditionStatus.DRAFT}, "approve"
    ),
    EditionHasNoItems("2024-08"),
    NoItemHasTopic("2024-08"),
    ItemsWithoutTopic("2024-08", ["无主题条目"]),
    UntranslatedForEnglishReaders("2024-08", readers=12, items=3),
    TextUnsafe("title_en", UnsafeText(index=3, codepoint=7)),
    ScheduleInPast(datetime(2024, 8, 1, tzinfo=UTC), datetime(2024, 8, 2, tzinfo=UTC)),
    ReportIncomplete((MissingPart("交易资讯"), MissingPart("行业新闻", 3, "标题"))),
]


def _reasons(base: type[Exception]) -> set[type[Exception]]:
    found: set[type[Exception]] = set()
    for kind in base.__subclasses__():
        found |= {kind} | _reasons(kind)
    return found


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_every_reason_a_console_change_is_refused_has_an_example_here() -> None:
    # A new reason added without words for the console fails here, not in front of an admin.
    admin_bases = (ReaderAdminError, TopicError, UserError, SuppressionError, BrandingError,
                   LogoError)
    wanted = set().union(*(_reasons(base) for base in admin_bases))
    assert {type(e) for e in ADMIN_REFUSALS} == wanted
    assert {type(e) for e in EDITOR_REFUSALS} >= _reasons(ItemInvalid)


@pytest.mark.parametrize(
    ("explain", "error"),
    [(admin_explain, e) for e in ADMIN_REFUSALS] + [(editor_explain, e) for e in EDITOR_REFUSALS],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
)
def test_a_refusal_reads_in_the_consoles_language(
    app: Flask, explain: Callable[[Exception], str], error: Exception
) -> None:
    with app.test_request_context("/?lang=zh-CN"):
        chinese = explain(error)
    with app.test_request_context("/?lang=en"):
        english = explain(error)
    assert _has_chinese(chinese), chinese
    assert not _has_chinese(english) and english != str(error), english
