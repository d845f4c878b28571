"""Flask extensions, created unbound and wired up by `create_app`."""

from __future__ import annotations

from flask import g, request, session
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from markupsafe import Markup

from emails.i18n import has_cjk

LOCALES = ("zh_CN", "en")


def select_locale() -> str:
    """The reader's explicit choice (?lang= remembered in the session), else the language of
    the subscription a token page belongs to, else Accept-Language."""
    chosen = request.args.get("lang")
    if chosen:
        chosen = chosen.replace("-", "_")
        if chosen in LOCALES:
            session["lang"] = chosen
    remembered = session.get("lang")
    if remembered in LOCALES:
        return str(remembered)
    reader = str(g.get("reader_language", "")).replace("-", "_")
    if reader in LOCALES:
        return reader
    return request.accept_languages.best_match(LOCALES, default="zh_CN") or "zh_CN"


def current_language() -> str:
    """The page's language in DESIGN.md's spelling: `zh-CN` or `en`."""
    from flask_babel import get_locale

    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "zh-CN"


def lang_attr(text: str, language: str | None = None) -> Markup:
    """` lang="zh-CN"` on Chinese text (a source, the firm's name) in English (`language`, by
    default the page's), so that screen readers switch voice; nothing otherwise. The emails'
    templates have the same."""
    if (language or current_language()) == "en" and has_cjk(text):
        return Markup(' lang="zh-CN"')
    return Markup("")


babel = Babel()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"
