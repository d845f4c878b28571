"""What branding is in force, and how an admin changes it."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from emails import Logo, MailSettings, Palette
from emails.branding import AA_NORMAL, contrast_pairs, normalize_colour
from emails.palette import LIGHT, branded, css_variables
from webapp.audit import record_audit
from webapp.branding.logo import ProcessedLogo, process_logo, shown_size
from webapp.config import Settings
from webapp.mailer import mail_settings
from webapp.models import BRANDING_ID, Branding, User, utcnow
from webapp.plain_text import UnsafeText, find_unsafe

MAX_NAME: Final = 120
MAX_LABEL: Final = 60
MAX_FOOTER: Final = 500
LOGO_PATH: Final = "/brand/logo-{hash}.{ext}"
# The public pages' palette: one URL, revalidated (webapp.main.branding).
STYLESHEET_PATH: Final = "/brand/palette.css"

# The form's text fields: (column, longest, may span lines).
TEXT_FIELDS: Final = (
    ("org_name_zh", MAX_NAME, False),
    ("org_name_en", MAX_NAME, False),
    ("footer_text_zh", MAX_FOOTER, True),
    ("footer_text_en", MAX_FOOTER, True),
    ("commentary_label_zh", MAX_LABEL, False),
    ("commentary_label_en", MAX_LABEL, False),
)
COLOUR_FIELDS: Final = ("primary_colour", "accent_colour")
# Each contrast pair of emails.branding as the form field it refuses and the role of the other
# colour in the message.
_PAIR_FIELDS: Final = {
    "primary/background": ("primary_colour", "background"),
    "primary/page": ("primary_colour", "page"),
    "on_primary/primary": ("primary_colour", "button_text"),
    "accent/background": ("accent_colour", "background"),
    "accent/page": ("accent_colour", "page"),
    "on_primary/accent": ("accent_colour", "button_text"),
}


class BrandingError(ValueError):
    """A branding change the console cannot make; nothing was stored. `field` is the form
    field it belongs to."""

    field = "org_name_zh"


class BrandingTextInvalid(BrandingError):
    """Too long (`limit`), or holding a character that may not be stored (`unsafe`)."""

    def __init__(self, field: str, *, limit: int | None = None,
                 unsafe: UnsafeText | None = None) -> None:
        super().__init__(f"{field}: " + (f"at most {limit} characters" if limit else
                                         f"refused character {unsafe}"))
        self.field = field
        self.limit = limit
        self.unsafe = unsafe


class ColourInvalid(BrandingError):
    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"{field}: {value!r} is not a colour like #1f2d44")
        self.field = field
        self.value = value


class ColourContrastTooLow(BrandingError):
    """`colour` against `other` (the body, the page, or the text on a button) reads below
    WCAG AA; `ratio` is shown rounded down, so a refused colour never shows 4.50."""

    def __init__(self, field: str, colour: str, other: str, role: str, ratio: float) -> None:
        self.field = field
        self.colour = colour
        self.other = other
        self.role = role  # "background" | "page" | "button_text"
        self.ratio = math.floor(ratio * 100) / 100
        super().__init__(
            f"{field}: {colour} has a contrast of {self.ratio:.2f}:1 against {other} ({role}); "
            f"WCAG AA needs {AA_NORMAL}:1"
        )


@dataclass(frozen=True)
class Brand:
    """The branding in force: the console's values, else the environment's, else built in."""

    org_name_zh: str
    org_name_en: str
    footer_text_zh: str
    footer_text_en: str
    commentary_label_zh: str
    commentary_label_en: str
    palette: Palette
    logo_path: str | None = None  # under our own domain, named by the file's hash
    logo_width: int = 0  # as shown, in CSS pixels
    logo_height: int = 0

    def org_name(self, language: str) -> str:
        return self.org_name_en if language == "en" else self.org_name_zh

    def commentary_label(self, language: str) -> str:
        return self.commentary_label_en if language == "en" else self.commentary_label_zh


@dataclass(frozen=True)
class BrandingChange:
    """What the branding form sends: empty text means "the default"; `logo` is a new upload."""

    org_name_zh: str = ""
    org_name_en: str = ""
    primary_colour: str = ""
    accent_colour: str = ""
    footer_text_zh: str = ""
    footer_text_en: str = ""
    commentary_label_zh: str = ""
    commentary_label_en: str = ""
    logo: bytes | None = None
    remove_logo: bool = False


def brand_of(row: Branding | None, settings: Settings) -> Brand:
    def value(name: str, default: str) -> str:
        stored = getattr(row, name, None) if row is not None else None
        return stored or default

    defaults = Palette()
    palette = replace(
        defaults,
        primary=value("primary_colour", defaults.primary),
        accent=value("accent_colour", defaults.accent),
    )
    logo_path, width, height = None, 0, 0
    if row is not None and row.logo and row.logo_hash and row.logo_width and row.logo_height:
        ext = "png" if row.logo_type == "image/png" else "jpg"
        logo_path = LOGO_PATH.format(hash=row.logo_hash[:16], ext=ext)
        width, height = shown_size(row.logo_width, row.logo_height)
    org_zh = value("org_name_zh", settings.org_name)
    return Brand(
        org_name_zh=org_zh,
        org_name_en=value("org_name_en", settings.org_name),
        footer_text_zh=value("footer_text_zh", ""),
        footer_text_en=value("footer_text_en", ""),
        commentary_label_zh=value("commentary_label_zh", settings.commentary_label_zh),
        commentary_label_en=value("commentary_label_en", settings.commentary_label_en),
        palette=palette,
        logo_path=logo_path,
        logo_width=width,
        logo_height=height,
    )


def brand(session: Session, settings: Settings) -> Brand:
    """The branding in force now."""
    return brand_of(session.get(Branding, BRANDING_ID), settings)


def mail_brand(session: Session | None, settings: Settings) -> MailSettings:
    """The emails' settings with the branding in force; the environment's alone without a
    session (a message built for no stored row)."""
    base = mail_settings(settings)
    if session is None:
        return base
    return with_brand(base, brand(session, settings), settings.base_url)


def with_brand(base: MailSettings, current: Brand, base_url: str) -> MailSettings:
    logo = None
    if current.logo_path:
        logo = Logo(base_url.rstrip("/") + current.logo_path, current.logo_width,
                    current.logo_height)
    return replace(
        base,
        org_name=current.org_name_zh,
        org_name_en=current.org_name_en,
        footer_text_zh=current.footer_text_zh,
        footer_text_en=current.footer_text_en,
        commentary_label_zh=current.commentary_label_zh,
        commentary_label_en=current.commentary_label_en,
        palette=current.palette,
        logo=logo,
    )


def stylesheet(palette: Palette) -> str:
    """The public pages' palette as CSS custom properties (app.css reads `--accent` and the
    emails' roles as `--yb-*`: the brand's colours and the neutrals around them)."""
    roles = css_variables(branded(LIGHT, palette))
    return (
        ":root {\n"
        f"  --brand-primary: {palette.primary};\n"
        f"  --brand-accent: {palette.accent};\n"
        f"  --brand-on-primary: {palette.on_primary};\n"
        "  --accent: var(--brand-primary);\n"
        "  --accent-ink: var(--brand-on-primary);\n"
        f"  {roles}\n"
        "}\n"
    )


def _texts(change: BrandingChange) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for name, limit, multiline in TEXT_FIELDS:
        raw: str = getattr(change, name)
        text = raw.replace("\r\n", "\n").strip() if multiline else " ".join(raw.split())
        problem = find_unsafe(text, multiline=multiline)
        if problem is not None:
            raise BrandingTextInvalid(name, unsafe=problem)
        if len(text) > limit:
            raise BrandingTextInvalid(name, limit=limit)
        values[name] = text or None
    return values


def _colours(change: BrandingChange) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for name in COLOUR_FIELDS:
        raw: str = getattr(change, name)
        if not raw.strip():
            values[name] = None
            continue
        colour = normalize_colour(raw)
        if colour is None:
            raise ColourInvalid(name, raw.strip())
        values[name] = colour
    defaults = Palette()
    palette = replace(defaults, primary=values["primary_colour"] or defaults.primary,
                      accent=values["accent_colour"] or defaults.accent)
    for pair in contrast_pairs(palette):
        if pair.ratio < AA_NORMAL:
            field, role = _PAIR_FIELDS[pair.name]
            colour = getattr(palette, field.removesuffix("_colour"))
            other = pair.foreground if pair.background == colour else pair.background
            raise ColourContrastTooLow(field, colour, other, role, pair.ratio)
    return values


def _snapshot(row: Branding) -> dict[str, object]:
    names = [name for name, _, _ in TEXT_FIELDS] + list(COLOUR_FIELDS)
    return {**{name: getattr(row, name) for name in names}, "logo": row.logo_hash}


def update_branding(
    session: Session, change: BrandingChange, *, actor: User, now: datetime | None = None
) -> bool:
    """Check and store a change of branding, audited with what it was and what it became.
    False when nothing changed; a BrandingError (or LogoError) changes nothing."""
    values: dict[str, object] = {**_texts(change), **_colours(change)}
    logo: ProcessedLogo | None = process_logo(change.logo) if change.logo else None
    row = session.get(Branding, BRANDING_ID) or Branding(id=BRANDING_ID, updated_by="")
    before = _snapshot(row)
    for name, value in values.items():
        setattr(row, name, value)
    if logo is not None:
        row.logo, row.logo_type, row.logo_hash = logo.data, logo.content_type, logo.sha256
        row.logo_width, row.logo_height = logo.width, logo.height
    elif change.remove_logo:
        row.logo = row.logo_type = row.logo_hash = None
        row.logo_width = row.logo_height = None
    after = _snapshot(row)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        if row in session:
            session.expire(row)  # the values set above are the same; leave nothing pending
        return False
    session.add(row)
    row.updated_at = now or utcnow()
    row.updated_by = actor.email
    record_audit(
        session, "branding.update", actor=actor, target="branding",
        detail={"before": {k: before[k] for k in changed}, "after": {k: after[k] for k in changed}},
    )
    return True
