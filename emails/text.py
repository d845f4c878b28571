"""Plain-text parts, written from the same content as the HTML (not a stripped HTML dump)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from emails.views import ItemView, SectionView

Slot = Callable[[str], str]


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]


def _heading(text: str, rule: str) -> list[str]:
    # CJK characters take two columns in a monospace font.
    width = sum(2 if ord(c) > 0x2E7F else 1 for c in text)
    return [text, rule * width]


def _title(item: ItemView) -> str:
    """The title with its "(in Chinese)" marker, as the HTML shows it."""
    return f"{item.title} {item.marker}" if item.marker else item.title


def edition_text(
    *,
    t: dict[str, str],
    title: str,
    month_label: str,
    intro: str,
    intro_marker: str | None,
    commentary_label: str,
    sections: Sequence[SectionView],
    toc_lines: int,
    teasers: Mapping[int, tuple[str, str]] | None,
    footer: Sequence[str],
    slot: Slot,
) -> str:
    """The text part of an edition; items are numbered and their links listed at the end.

    `toc_lines`: how many titles the table of contents lists (0: none); `teasers`: each item's
    summary and commentary teasers by number, when the layout is the digest.
    """
    lines = [*_heading(f"{title} · {month_label}", "="), "", slot("greeting"), ""]
    if intro_marker and intro.strip():
        lines.append(intro_marker)
    for p in _paragraphs(intro):
        lines += [p, ""]
    refs: list[str] = []
    ref_of: dict[int, int] = {}
    for section in sections:
        for item in section.items:
            refs.append(item.slot)
            ref_of[item.number] = len(refs)
    if toc_lines:
        every = [i for s in sections for i in s.items]
        lines += [t["toc"], ""]
        lines += [f"  [{ref_of[i.number]}] {_title(i)}" for i in every[:toc_lines]]
        if len(every) > toc_lines:
            lines.append("  " + t["toc_more"].format(count=len(every) - toc_lines))
        lines.append("")
    for section in sections:
        lines += ["", *_heading(section.heading, "-"), ""]
        for item in section.items:
            lines += [f"[{ref_of[item.number]}] {_title(item)}", item.meta, ""]
            if teasers is not None:
                summary, commentary = teasers[item.number]
                lines += [summary, ""]
                lines += [f"{t['read_more']}{t['colon']}{slot('view')}#{item.anchor}", ""]
                if commentary:
                    lines += [f"> {commentary_label}{t['colon']}{commentary}", ""]
                continue
            for p in _paragraphs(item.summary):
                lines += [p, ""]
            if item.shortened:
                lines += [f"{t['read_more']}{t['colon']}{slot('view')}#{item.anchor}", ""]
            if item.commentary:
                lines.append(f"> {commentary_label}")
                paras = _paragraphs(item.commentary)
                for i, p in enumerate(paras):
                    lines.append(f"> {p}")
                    if i < len(paras) - 1:
                        lines.append(">")
                lines.append("")
    lines += ["", *_heading(t["links"], "-"), ""]
    lines += [f"[{n}] {slot(name)}" for n, name in enumerate(refs, start=1)]
    lines += ["", "-- ", *footer]
    return "\n".join(lines).rstrip() + "\n"


def system_text(
    *,
    heading: str,
    greeting: str,
    body: str,
    button: str,
    action: str,
    footer: Sequence[str],
    more: Sequence[str] = (),
) -> str:
    """The text part of a system mail: the button becomes its label and the URL below it."""
    paragraphs = [line for p in (body, *more) for line in (p, "")]
    lines = [*_heading(heading, "="), "", greeting, "", *paragraphs, button, action, ""]
    lines += ["-- ", *footer]
    return "\n".join(lines).rstrip() + "\n"
