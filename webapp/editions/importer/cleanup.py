"""Clean a report's text into what its author typed, line by line, before it is parsed.

A PDF's text layer is not the text a reader typed. Fonts map glyphs to Kangxi radicals and CJK
radicals-supplement code points ("⽉" U+2F49 for 月, "⻔" U+2ED4 for 门), Latin ligatures come
out as one character ("ﬂ" U+FB02, also inside URLs, which then point nowhere), and extraction
leaves spaces around CJK characters ("2024年 8月 19日", "OpenAI及 Anthropic", "政策 》").

The rules, the same for PDF, Word and text files so that all three agree:
- ligatures (U+FB00–FB06) are spelt out, everywhere;
- radicals become the character a reader of simplified Chinese expects (see `RADICALS`);
- whitespace between a CJK character (or full-width punctuation) and another CJK character,
  full-width punctuation, digit or Latin letter is removed; spaces between Latin words stay;
- URLs are left alone beyond the ligature fix.
Nothing else is normalised: NFKC would turn full-width punctuation (：，（）) into ASCII.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

LIGATURES = {chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}

# Kangxi radicals (U+2F00–U+2FD5) decompose to the character of the same shape. Where that is
# a variant whose everyday simplified-Chinese form is another code point with the same glyph in
# simplified-Chinese fonts, the everyday form wins: ⼾ is 户 here, not 戶.
_KANGXI_SIMPLIFIED = {"戶": "户", "靑": "青", "黃": "黄"}

# CJK Radicals Supplement (U+2E80–U+2EF3) has no decompositions but two, so this table is
# written out and reviewed: each radical maps to the character a simplified-Chinese font draws
# with the same glyph (the C-SIMPLIFIED forms to their simplified characters), or to the
# standalone component character (亻, 氵, 扌 …). Shapes that exist only inside other characters
# (⺌, ⺗, ⺮ …) have no character to map to and are left as they are.
_SUPPLEMENT = {
    "⺁": "厂", "⺅": "亻", "⺆": "冂", "⺇": "几", "⺉": "刂", "⺊": "卜", "⺋": "㔾",
    "⺎": "兀", "⺏": "尣", "⺐": "尢", "⺒": "巳", "⺓": "幺", "⺔": "彑", "⺖": "忄",
    "⺘": "扌", "⺙": "攵", "⺛": "旡", "⺜": "日", "⺝": "月", "⺞": "歺", "⺟": "母",
    "⺠": "民", "⺡": "氵", "⺢": "氺", "⺣": "灬", "⺤": "爫", "⺦": "丬", "⺨": "犭",
    "⺩": "王", "⺪": "疋", "⺫": "罒", "⺬": "示", "⺭": "礻", "⺯": "糹", "⺰": "纟",
    "⺱": "罓", "⺲": "罒", "⺳": "㓁", "⺹": "耂", "⺺": "肀", "⺻": "聿", "⺼": "月",
    "⺽": "臼", "⺾": "艹", "⺿": "艹", "⻀": "艹", "⻁": "虎", "⻂": "衤", "⻃": "覀",
    "⻄": "西", "⻅": "见", "⻆": "角", "⻇": "角", "⻈": "讠", "⻉": "贝", "⻋": "车",
    "⻌": "辶", "⻍": "辶", "⻎": "辶", "⻏": "阝", "⻐": "钅", "⻑": "長", "⻒": "镸",
    "⻓": "长", "⻔": "门", "⻖": "阝", "⻗": "雨", "⻘": "青", "⻙": "韦", "⻚": "页",
    "⻛": "风", "⻜": "飞", "⻝": "食", "⻞": "飠", "⻟": "飠", "⻠": "饣", "⻡": "首",
    "⻢": "马", "⻣": "骨", "⻤": "鬼", "⻥": "鱼", "⻦": "鸟", "⻧": "卤", "⻨": "麦",
    "⻩": "黄", "⻪": "黾", "⻫": "斉", "⻬": "齐", "⻭": "歯", "⻮": "齿", "⻯": "竜",
    "⻰": "龙", "⻱": "龜", "⻲": "亀", "⻳": "龟",
}


def _kangxi() -> dict[str, str]:
    table: dict[str, str] = {}
    for code in range(0x2F00, 0x2FE0):
        decomposition = unicodedata.decomposition(chr(code))
        if decomposition.startswith("<compat> "):
            target = chr(int(decomposition.split()[1], 16))
            table[chr(code)] = _KANGXI_SIMPLIFIED.get(target, target)
    return table


RADICALS: Mapping[str, str] = {**_kangxi(), **_SUPPLEMENT}
_RADICAL_TABLE = str.maketrans(dict(RADICALS))
_LIGATURE_TABLE = str.maketrans(LIGATURES)

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
# CJK characters and full-width punctuation: radicals, CJK punctuation, kana, ideographs
# (BMP, compatibility, and the supplementary planes), vertical and compatibility forms,
# full-width forms. Hangul is not here: Korean puts spaces between words.
_WIDE = (
    "\u2e80-\u2fdf\u3001-\u303f\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\ufe10-\ufe1f\ufe30-\ufe4f\uff01-\uff60\uffe0-\uffe6\U00020000-\U0003134f"
)
# What sits next to a CJK character without a space: digits, Latin letters, and the quotes,
# ellipsis and dashes that Chinese text shares with English.
_PARTNER = "0-9A-Za-z\u2018\u2019\u201c\u201d\u2026\u2014\u00b7"
_SPACE = "[ \t\u00a0\u3000]+"
_CJK_GAP = re.compile(
    f"(?<=[{_WIDE}]){_SPACE}(?=[{_WIDE}{_PARTNER}])|(?<=[{_WIDE}{_PARTNER}]){_SPACE}(?=[{_WIDE}])"
)


def clean_line(line: str) -> str:
    """One line as its author typed it (see the module's rules)."""
    line = line.translate(_LIGATURE_TABLE)
    parts = _URL.split(line)
    urls = _URL.findall(line)
    out: list[str] = []
    for i, part in enumerate(parts):
        # Splitting at URLs also keeps the spaces around a URL: a URL's end is where it is.
        out.append(_CJK_GAP.sub("", part.translate(_RADICAL_TABLE)))
        if i < len(urls):
            out.append(urls[i])
    return "".join(out)


@dataclass(frozen=True)
class LineChange:
    no: int  # 1-based
    before: str
    after: str


@dataclass(frozen=True)
class CleanText:
    lines: tuple[str, ...]
    changes: tuple[LineChange, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def clean_lines(lines: Iterable[str]) -> CleanText:
    """Clean every line; lines are never joined or split, so line numbers stay the file's."""
    cleaned: list[str] = []
    changes: list[LineChange] = []
    for no, line in enumerate(lines, 1):
        after = clean_line(line)
        cleaned.append(after)
        if after != line:
            changes.append(LineChange(no, line, after))
    return CleanText(tuple(cleaned), tuple(changes))


def clean_text(text: str) -> str:
    return clean_lines(text.split("\n")).text


# --- what changed, per field of an item ---------------------------------------------------

CLEANED_FIELDS = ("title", "source", "url", "summary", "commentary")


def field_changes(
    fields: Mapping[str, str | None], changes: Sequence[LineChange]
) -> dict[str, dict[str, str]]:
    """{field: {"before", "after"}} for the fields the cleanup changed.

    `changes` are the cleaned lines of one item; each is found in the field that holds it and
    put back as it was, which gives the field's text before the cleanup. A line's text sits in
    its field unchanged from the first character the cleanup touched to its end (labels and
    item numbers before that are the parser's), so that tail is what is looked for.
    """
    before = {name: value for name, value in fields.items() if value}
    cursor = dict.fromkeys(before, 0)
    for change in changes:
        old, new = change.before.strip(), change.after.strip()
        first = _first_difference(old, new)
        for name in CLEANED_FIELDS:
            value = before.get(name)
            if value is None:
                continue
            found = _restore(value, old, new, first, cursor[name])
            if found is not None:
                before[name], cursor[name] = found
                break
    return {
        name: {"before": before[name], "after": value}
        for name, value in fields.items()
        if value and before.get(name, value) != value
    }


def _first_difference(old: str, new: str) -> int:
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return next((j1 for tag, _, _, j1, _ in matcher.get_opcodes() if tag != "equal"), len(new))


def _restore(value: str, old: str, new: str, first: int, start: int) -> tuple[str, int] | None:
    """`value` with the tail of `new` put back to `old`'s, searching from `start`."""
    for p in range(first + 1):
        tail = new[p:]
        if not tail:
            break
        at = value.find(tail, start)
        if at >= 0:
            restored = old[p:]  # before the first difference, old and new are the same
            return value[:at] + restored + value[at + len(tail):], at + len(restored)
    return None

