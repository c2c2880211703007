"""Allow and deny lists: terms and patterns that are never redacted, or always are.

As Presidio's ``allow_list`` and Private AI's allow/block lists: ``allow`` entries (a team's
product name the model takes for a surname, a test account) are never redacted; ``deny``
entries map a label to entries that are always redacted with that label (a code name, an
internal customer id). An entry is a literal term, matched case-insensitively on token
boundaries, or a regular expression written ``re:<pattern>``. They come from the config file
(``allow``/``deny`` settings) and per request on ``/redact`` (added to the configured ones).

Applied after detection and before propagation (``Redactor.detections``): a detection lying
wholly inside an allowed occurrence is dropped, so an allowed value does not propagate
either; every denied occurrence becomes a span with ``source="deny"``.

Patterns come from operators and, per request, from clients: a pattern with a quantified
group that itself holds a quantifier (``(a+)+``, the shape of catastrophic backtracking) or
longer than ``MAX_PATTERN_CHARS`` is refused (``PolicyError`` naming the field), so matching
stays linear in the text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.redact.errors import PolicyError
from pipeline.spans import Entity

DENY_SOURCE = "deny"
REGEX_PREFIX = "re:"
MAX_PATTERN_CHARS = 500
MAX_ENTRIES = 1000
_NESTED = re.compile(r"\((?:[^()\\]|\\.)*(?:[*+]|\{\d*,?\d*\})(?:[^()\\]|\\.)*\)\s*(?:[*+]|\{\d*,?\d*\})")
_LABEL = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


def _compile(entry: str, field: str) -> re.Pattern[str]:
    if not isinstance(entry, str) or not entry.strip():
        raise PolicyError(f"{field}: entries must be non-empty strings", field=field)
    if entry.startswith(REGEX_PREFIX):
        pattern = entry[len(REGEX_PREFIX):]
        if len(pattern) > MAX_PATTERN_CHARS or _NESTED.search(pattern):
            raise PolicyError(f"{field}: a pattern longer than {MAX_PATTERN_CHARS} characters or with a quantified "
                              "group holding a quantifier is refused (it could take exponential time)", field=field)
        try:
            return re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise PolicyError(f"{field}: invalid regular expression ({exc.msg} at {exc.pos})", field=field) from exc
    return re.compile(r"(?<!\w)" + re.escape(entry.strip()) + r"(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class TermLists:
    """Compiled allow and deny entries (see the module docstring)."""

    allow: tuple[re.Pattern[str], ...] = ()
    deny: tuple[tuple[str, re.Pattern[str]], ...] = ()

    @classmethod
    def build(cls, allow: Sequence[str] | None = None, deny: Mapping[str, Sequence[str]] | None = None,
              field: str = "") -> TermLists:
        """Compile entries; ``field`` prefixes the names errors carry (``allow``, ``deny.CODE``)."""
        allow, deny = list(allow or ()), dict(deny or {})
        if len(allow) + sum(len(v) for v in deny.values()) > MAX_ENTRIES:
            raise PolicyError(f"allow and deny hold more than {MAX_ENTRIES} entries", field=f"{field}allow")
        compiled_deny = []
        for label, entries in deny.items():
            if not isinstance(label, str) or not _LABEL.fullmatch(label):
                raise PolicyError("deny: keys are labels in upper case (e.g. CODE_NAME)", field=f"{field}deny")
            compiled_deny += [(label, _compile(e, f"{field}deny.{label}")) for e in entries]
        return cls(tuple(_compile(e, f"{field}allow") for e in allow), tuple(compiled_deny))

    def __bool__(self) -> bool:
        return bool(self.allow or self.deny)

    def plus(self, other: TermLists) -> TermLists:
        """Both lists' entries (the config's plus a request's)."""
        return TermLists(self.allow + other.allow, self.deny + other.deny)

    def apply(self, text: str, spans: Iterable[Entity]) -> list[Entity]:
        """``spans`` minus those wholly inside an allowed occurrence, plus denied occurrences."""
        spans = list(spans)
        if self.allow:
            allowed = _merged(m.span() for pattern in self.allow for m in pattern.finditer(text) if m.end() > m.start())
            if allowed:
                spans = [s for s in spans if not _inside(allowed, s.start, s.end)]
        for label, pattern in self.deny:
            spans += [Entity(label, m.start(), m.end(), 1.0, DENY_SOURCE)
                      for m in pattern.finditer(text) if m.end() > m.start()]
        return spans


def _inside(runs: list[tuple[int, int]], start: int, end: int) -> bool:
    """Is ``[start, end)`` inside one of ``runs`` (merged, sorted)? Binary search."""
    i = bisect.bisect_right(runs, (start, float("inf"))) - 1
    return i >= 0 and runs[i][0] <= start and end <= runs[i][1]


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if runs and start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        else:
            runs.append((start, end))
    return runs
