"""The text detectors read: the original seen through escapes, markup and invisible characters,
with a map back so that every offset reported stays an offset into the original string.

Text reaches a pipeline escaped (a log line's ``...!\\nSelam: "Who are you?"``, JSON escaped
twice), as HTML (``<b>John</b>``, ``john&#64;example.com``), with zero-width characters or
soft hyphens inside words (``Jo\\u200bhn``: an evasion, or a copy from a web page), or in
fullwidth forms (``john＠example.com``, fullwidth card digits). The model, the recognizers
and propagation all miss PII hidden that way. ``see_through(text)`` returns the plain text
they should read instead and the map back, or ``None`` when there is nothing to see through
(most texts: one regex search, no copy).

What is seen through, each replaced by what it stands for:

- literal escapes: one or more backslashes then ``n``, ``r`` or ``t`` -> a line break or a
  tab; ``\\uXXXX`` (a surrogate pair decoded as one character; a lone surrogate is left as
  it is written) -> the character;
- HTML: character references (``&amp;``, ``&#64;``, ``&#x40;``, named ones with their ``;``)
  -> the character; a tag (``<b>``, ``</p>``, ``<br/>``, ``<a href=...>``: a letter right
  after ``<`` or ``</``, then a space, ``/`` or ``>``) -> one space (``<john@example.com>`` is
  not a tag);
- invisible characters (zero-width space/joiners, word joiner, BOM, soft hyphen, bidi
  controls) -> nothing;
- fullwidth ASCII forms and the ideographic space -> their ASCII counterparts.

A span ``[s, e)`` of the plain text maps to ``[orig_start[s], orig_end[e - 1])`` of the
original: a replaced sequence is all or nothing (``\\n`` is two characters of the original,
``&#64;`` five), and characters removed inside a span are inside its mapped span
(``Jo\\u200bhn`` maps back whole). ``to_plain`` maps the other way, for spans found on the
original. Everything is one pass over the text: linear by construction.
"""

from __future__ import annotations

import html.entities
import re
from array import array
from dataclasses import dataclass

_INVISIBLE = "\u00ad\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064" \
             "\u2066\u2067\u2068\u2069\ufeff"
_FULLWIDTH = "\uff01-\uff5e\u3000"
#: One regex for everything seen through; alternatives start with distinct characters, so no
#: backtracking across them (and each is bounded or a single class run).
_HIDDEN = re.compile(
    r"(?P<esc>(?<!\\)\\+(?:[nrt]|u[0-9A-Fa-f]{4}))"  # from the first backslash of a run only
    r"|(?P<ref>&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});)"
    r"|(?P<tag></?[A-Za-z][A-Za-z0-9]{0,15}(?:[\s/][^<>]{0,400})?>)"
    f"|(?P<inv>[{_INVISIBLE}]+)"
    f"|(?P<wide>[{_FULLWIDTH}]+)"
)
_ANY = re.compile(r"[\\&<" + _INVISIBLE + _FULLWIDTH + "]")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
_NAMED = html.entities.html5


@dataclass(frozen=True, slots=True)
class SeeThrough:
    """The plain text and, per plain character, the original range it stands for."""

    original: str
    plain: str
    orig_start: array  # per plain character
    orig_end: array

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """A plain span as an original span (an empty span maps to an empty one)."""
        if end <= start:
            at = self.orig_start[start] if start < len(self.plain) else len(self.original)
            return at, at
        return self.orig_start[start], self.orig_end[end - 1]

    def to_plain(self, start: int, end: int) -> tuple[int, int]:
        """An original span as the smallest plain span covering what it covers."""
        lo = _bisect(self.orig_end, start, right=True)   # first plain char ending after start
        hi = _bisect(self.orig_start, end, right=False)  # plain chars starting before end
        return lo, max(lo, hi)


def _bisect(values: array, x: int, *, right: bool) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < x or (right and values[mid] == x):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _decode_escape(text: str, m: re.Match[str]) -> tuple[str, int]:
    """(replacement, end in the original) of an escape match; a ``\\uD8xx`` high surrogate takes
    the low one that follows it, or stays as written."""
    body = m.group().lstrip("\\")
    if body[0] in _ESCAPES:
        return _ESCAPES[body[0]], m.end()
    code = int(body[1:], 16)
    if 0xD800 <= code <= 0xDBFF:
        low = re.match(r"\\+u([Dd][C-Fc-f][0-9A-Fa-f]{2})", text[m.end() : m.end() + 16])
        if low:
            pair = 0x10000 + ((code - 0xD800) << 10) + (int(low.group(1), 16) - 0xDC00)
            return chr(pair), m.end() + low.end()
        return "", -1
    if 0xDC00 <= code <= 0xDFFF:
        return "", -1
    return chr(code), m.end()


def _decode_ref(ref: str) -> str | None:
    body = ref[1:-1]
    if body.startswith(("#x", "#X")):
        code = int(body[2:], 16)
    elif body.startswith("#"):
        code = int(body[1:])
    else:
        return _NAMED.get(body + ";")
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def see_through(text: str) -> SeeThrough | None:
    """The plain view of ``text``, or ``None`` when it has nothing to see through."""
    if _ANY.search(text) is None:
        return None
    pieces: list[str] = []
    starts, ends = array("q"), array("q")
    copied = 0  # original characters before this are handled
    changed = False
    pos = 0
    while True:
        m = _HIDDEN.search(text, pos)
        if m is None:
            break
        kind = m.lastgroup
        end = m.end()
        if kind == "esc":
            replacement, end = _decode_escape(text, m)
        elif kind == "ref":
            replacement = _decode_ref(m.group())
        elif kind == "tag":
            replacement = " "
        elif kind == "inv":
            replacement = ""
        else:
            replacement = m.group().translate(_WIDE)
        if replacement is None or end < 0:  # not decodable: read as written
            pos = m.start() + 1
            continue
        _copy(text, copied, m.start(), pieces, starts, ends)
        if kind == "wide":  # one for one
            pieces.append(replacement)
            starts.extend(range(m.start(), end))
            ends.extend(range(m.start() + 1, end + 1))
        elif replacement:
            pieces.append(replacement)
            starts.extend([m.start()] * len(replacement))
            ends.extend([end] * len(replacement))
        copied = pos = end
        changed = True
    if not changed:
        return None
    _copy(text, copied, len(text), pieces, starts, ends)
    return SeeThrough(text, "".join(pieces), starts, ends)


def _copy(text: str, start: int, end: int, pieces: list[str], starts: array, ends: array) -> None:
    if end > start:
        pieces.append(text[start:end])
        starts.extend(range(start, end))
        ends.extend(range(start + 1, end + 1))


_WIDE = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
