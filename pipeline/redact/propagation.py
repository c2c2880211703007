"""Document-level propagation: a value detected once is redacted wherever it occurs again.

Detectors are context-sensitive: the model tags ``Selam`` as the first speaker of a dialogue and
not as the second, finds one of ``Vojtěch had given Vojtěch ...``, or one window of a long
document sees a name the next window misses. The document, not the window, is the unit that
must not leak, so every further occurrence of a detected value (exact string, on word
boundaries) becomes a span with the same label and ``source="propagated"``. It runs over the
whole text, so it crosses the windows of long documents.

Name-group values (``GIVEN_NAME``, ``SURNAME``, ``NAME``: ``spans.LABEL_GROUPS``) also
propagate word by word (``Martin Karlsen`` -> ``Karlsen`` alone later), and can match
case-insensitively (``ignore_case``); other values match exactly. Values shorter than
``min_chars`` do not propagate (``Li``, ``Al`` would hit too many words), nor do values longer
than ``MAX_CHARS`` (a repeat of such a value is found again by the deterministic detector that
found it first; a model span that long is not a name), nor names and address parts written in
lower case only (``avahi`` tagged once in a changelog is a package). Matches are whole tokens,
on the text seen through escapes (``Redactor.detections``): not glued to a path, file name or
identifier (``/run/avahi``, ``avahi-daemon.sh``), but a sentence's full stop after one is fine.

The search is linear by construction, whatever the number of values: values are indexed by
their first ``min_chars`` characters, each word-boundary position of the text is looked up once
in that index, and only the lengths of values sharing that prefix are compared there (at most
``MAX_CHARS`` characters each). A regex alternation of every value (what this was) tries each
value at each position and compiles in Python: seconds on a document of thousands of e-mails.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.spans import LABEL_GROUPS, Entity

PROPAGATED = "propagated"
#: Longest value that propagates.
MAX_CHARS = 256
_WORD = re.compile(r"[^\W\d_][\w'’-]*")


class _Coverage:
    """Characters inside detected spans, merged into sorted runs, for O(log n) "already covered?"."""

    def __init__(self, spans: Sequence[Entity]) -> None:
        runs: list[list[int]] = []
        for start, end in sorted((s.start, s.end) for s in spans):
            if runs and start <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], end)
            else:
                runs.append([start, end])
        self.starts = [r[0] for r in runs]
        self.ends = [r[1] for r in runs]

    def contains(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and end <= self.ends[i]


@dataclass(frozen=True)
class Propagation:
    """How values propagate; see the module docstring."""

    ignore_case: bool = False
    min_chars: int = 3

    def find(self, text: str, spans: Sequence[Entity]) -> list[Entity]:
        """Further whole-word occurrences of detected values, outside the spans given."""
        values: dict[str, tuple[str, float, bool]] = {}  # key -> (label, score, caseless)
        for span in sorted(spans, key=lambda s: s.score):  # the highest score wins a value
            for value, is_name in self._values(text, span):
                caseless = is_name and self.ignore_case
                values[value.lower() if caseless else value] = (span.label, span.score, caseless)
        if not values:
            return []
        covered = _Coverage(spans)
        found: list[Entity] = []
        for caseless in (False, True):
            keys = [v for v, (_, _, folded) in values.items() if folded is caseless]
            for start, end in _occurrences(text, keys, self.min_chars, caseless):
                if covered.contains(start, end):
                    continue
                label, score, _ = values[text[start:end].lower() if caseless else text[start:end]]
                found.append(Entity(label, start, end, score, PROPAGATED))
        return found

    def _values(self, text: str, span: Entity) -> Iterable[tuple[str, bool]]:
        value = text[span.start : span.end].strip()
        if len(value) > MAX_CHARS:
            return
        is_name = LABEL_GROUPS.get(span.label) == "NAME"
        if LABEL_GROUPS.get(span.label) in ("NAME", "ADDRESS") and value == value.lower():
            return  # a lower-case "name" (a package, a word) is one guess; propagating multiplies it
        if len(value) >= self.min_chars:
            yield value, is_name
        if is_name and " " in value:
            for word in _WORD.findall(value):
                if len(word) >= self.min_chars and word[0].isupper():
                    yield word, True


def _occurrences(text: str, keys: Sequence[str], prefix: int, caseless: bool) -> Iterable[tuple[int, int]]:
    """Leftmost, then longest, non-overlapping occurrences of ``keys`` (lower-case if
    ``caseless``) that are whole tokens (see ``_glued_after``): what the regex
    ``(?<![\\w/.-])(?:k1|k2|...)(?![\\w/-]|\\.\\w)`` with keys longest first would find, in one pass."""
    lengths: dict[str, set[int]] = {}
    for key in keys:
        if len(key) >= prefix:
            lengths.setdefault(key[:prefix], set()).add(len(key))
    if not lengths:
        return
    index = {head: sorted(sizes, reverse=True) for head, sizes in lengths.items()}
    firsts = "".join(sorted({re.escape(head[0]) for head in index}))
    starts = re.compile(rf"(?<![\w/.\-])[{firsts}]", re.IGNORECASE if caseless else 0)
    wanted, n, resume = set(keys), len(text), 0
    for boundary in starts.finditer(text):
        start = boundary.start()
        if start < resume:
            continue
        head = text[start : start + prefix]
        sizes = index.get(head.lower() if caseless else head)
        if sizes is None:
            continue
        for size in sizes:
            end = start + size
            if end > n or _glued_after(text, end):
                continue
            piece = text[start:end]
            if (piece.lower() if caseless else piece) in wanted:
                yield start, end
                resume = end
                break


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _glued_after(text: str, end: int) -> bool:
    """An occurrence ending at ``end`` runs on into a path, file name, identifier or hyphenated
    word (``avahi-daemon.sh``, ``avahi/``); a full stop ending a sentence is not glued."""
    if end >= len(text):
        return False
    ch = text[end]
    if _is_word(ch) or ch in "/-":
        return True
    return ch == "." and end + 1 < len(text) and _is_word(text[end + 1])
