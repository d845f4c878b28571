"""The firm's branding: name, logo, palette, footer text and commentary label, set by an admin
in the console and used by every email and public page.

`brand(session, settings)` is what is in force (the console's values over the environment's);
`mail_brand` turns it into the emails' `MailSettings`; `update_branding` checks and stores a
change (colours that fail WCAG AA and logos that are not small PNG/JPEG files are refused).
"""

from webapp.branding.logo import (
    LOGO_MAX_BYTES,
    LogoError,
    LogoNotAnImage,
    LogoTooLarge,
    LogoTooManyPixels,
    ProcessedLogo,
    process_logo,
)
from webapp.branding.service import (
    Brand,
    BrandingChange,
    BrandingError,
    BrandingTextInvalid,
    ColourContrastTooLow,
    ColourInvalid,
    brand,
    brand_of,
    mail_brand,
    stylesheet,
    update_branding,
    with_brand,
)

__all__ = [
    "LOGO_MAX_BYTES",
    "Brand",
    "BrandingChange",
    "BrandingError",
    "BrandingTextInvalid",
    "ColourContrastTooLow",
    "ColourInvalid",
    "LogoError",
    "LogoNotAnImage",
    "LogoTooLarge",
    "LogoTooManyPixels",
    "ProcessedLogo",
    "brand",
    "brand_of",
    "mail_brand",
    "process_logo",
    "stylesheet",
    "update_branding",
    "with_brand",
]
