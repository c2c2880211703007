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
``min_chars`` do not propagate (``Li``, ``Al`` would hit too many words), nor do names and
address parts written in lower case only (``avahi`` tagged once in a changelog is a package).
Matches are whole tokens, on the text seen through escapes (``Redactor.detections``): not glued
to a path, file name or identifier (``/run/avahi``, ``avahi-daemon.sh``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.spans import LABEL_GROUPS, Entity

PROPAGATED = "propagated"
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
#: A further occurrence is a whole token: not glued to a path, file name, identifier or
#: hyphenated word (``avahi`` detected once is not redacted inside ``avahi-daemon.sh`` or
#: ``/run/avahi``), but a sentence's full stop after it is fine.
_BEFORE = r"(?<![\w/.\-])"
_AFTER = r"(?![\w/\-]|\.\w)"


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
                values[value.casefold() if caseless else value] = (span.label, span.score, caseless)
        if not values:
            return []
        exact = [v for v, (_, _, caseless) in values.items() if not caseless]
        folded = [v for v, (_, _, caseless) in values.items() if caseless]
        covered = _Coverage(spans)
        found: list[Entity] = []
        for keys, flags in ((exact, 0), (folded, re.IGNORECASE)):
            if not keys:
                continue
            pattern = re.compile(_BEFORE + "(?:" + "|".join(map(re.escape, sorted(keys, key=len, reverse=True)))
                                 + ")" + _AFTER, flags)
            for match in pattern.finditer(text):
                start, end = match.span()
                if covered.contains(start, end):
                    continue
                hit = values.get(match.group() if not flags else match.group().casefold())
                if hit is None:  # re's case folding and str.casefold differ (rare: ß, ﬁ)
                    continue
                label, score, _ = hit
                found.append(Entity(label, start, end, score, PROPAGATED))
        return found

    def _values(self, text: str, span: Entity) -> Iterable[tuple[str, bool]]:
        value = text[span.start : span.end].strip()
        is_name = LABEL_GROUPS.get(span.label) == "NAME"
        if LABEL_GROUPS.get(span.label) in ("NAME", "ADDRESS") and value == value.lower():
            return  # a lower-case "name" (a package, a word) is one guess; propagating multiplies it
        if len(value) >= self.min_chars:
            yield value, is_name
        if is_name and " " in value:
            for word in _WORD.findall(value):
                if len(word) >= self.min_chars and word[0].isupper():
                    yield word, True
