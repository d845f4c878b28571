"""Why a service refused something, said once: English for the CLI and the logs, the page's
language in the consoles.

A service raises its exception with a `Reason`: a catalogue message (marked with `N_` so
`pybabel extract` finds it) and the values it names. `str()` gives the English sentence;
`say()` gives it in the language of the request being answered.
"""

from __future__ import annotations

from flask_babel import gettext


def N_(text: str) -> str:
    """Mark `text` for the catalogue without translating it here."""
    return text


class Reason:
    """An English sentence with named values (`%(name)s`); a value may be a Reason itself."""

    def __init__(self, text: str, **values: object) -> None:
        self.text = text
        self.values = values

    def __str__(self) -> str:
        if not self.values:
            return self.text
        return self.text % {name: str(value) if isinstance(value, Reason) else value
                            for name, value in self.values.items()}

    def __repr__(self) -> str:
        return f"Reason({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __contains__(self, part: str) -> bool:
        return part in str(self)


def say(reason: object) -> str:
    """`reason` in the page's language: a Reason translated with its values, anything else as
    its text."""
    if not isinstance(reason, Reason):
        return str(reason)
    values = {name: say(value) if isinstance(value, Reason) else value
              for name, value in reason.values.items()}
    return str(gettext(reason.text, **values))
