"""No input costs a recognizer, or the whole redactor, more than a small multiple of plain text.

Every recognizer the registry knows (``recognizers.AVAILABLE``, so one added later is covered
without touching this file) and the whole redactor (default recognizers, propagation, conflict
resolution, with a fake span source that tags every capitalised word as the model would) run
over adversarial documents of 100,000 characters: digit runs with every separator, repeated
e-mail/IBAN/phone/URL fragments, long tokens without spaces, deep Unicode. Each run must stay
under ``BUDGET`` times a plain-text baseline measured in the same process: the slower of the
same detector on plain prose of the same length and the whole redactor on it. A ratio, not a
wall clock: a quadratic step at 100,000 characters is thousands of times the baseline, a
linear one a few times. Each run is stopped by an alarm once over budget, so a regression
fails fast instead of hanging the suite.

Detectors that cost a model's time per character on any text (spaCy) are run on the documents
cut to ``SLOW_CHARS``, chosen from their plain-text cost, to keep the wall time small.
"""

from __future__ import annotations

import itertools
import re
import signal
import time

import pytest

from pipeline.redact import STRATEGIES, Redactor, resolve
from pipeline.redact.recognizers import AVAILABLE, build_recognizers
from pipeline.spans import Entity

SIZE = 100_000
BUDGET = 50  # times the plain-text baseline (a quadratic step at 100,000 characters is hundreds)
#: Plain-text seconds per character above which a detector is run on shorter documents.
SLOW_PER_CHAR = 2e-6
SLOW_CHARS = 1_000


def _fill(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def _numbered(fmt: str, n: int) -> str:
    out, size = [], 0
    for i in itertools.count():
        piece = fmt.format(i=i, i4=f"{i % 10_000:04d}")
        out.append(piece)
        size += len(piece)
        if size >= n:
            return "".join(out)[:n]


def _doc(*segments: str | tuple[str, str]) -> str:
    """``SIZE`` characters: the segments, each filled to an equal share (a str is repeated; a
    ``(head, unit)`` pair is one long token: the head, then the unit repeated)."""
    share = SIZE // len(segments)
    parts = []
    for seg in segments:
        if isinstance(seg, tuple):
            head, unit = seg
            parts.append(head + _fill(unit, share - len(head) - 1) + " ")
        else:
            parts.append(_fill(seg, share))
    return "".join(parts)


SEPARATORS = (" ", "-", ".", "/", ",", ":", "\u00a0", "\t", "_", "+", "(", ")")
#: Long tokens without spaces, each a whole document (a step quadratic in one token's length
#: shows only when the token is long).
LONG_TOKENS = {
    "URL of letters": ("http://", "a"), "URL of dots": ("http://x.org", "."), "URL of brackets": ("http://x.org/", ")"),
    "www of labels": ("www.", "a."), "e-mail domain of labels": ("x@", "a."), "e-mail domain of one label": ("x@", "a"),
    "e-mail domain of dashes": ("x@", "a-"), "e-mail local part of dots": ("", "a."),
    "e-mail local part of symbols": ("", "a!#$%&'*+/=?^`{|}~-"), "IBAN heads": ("", "DE89"),
    "letters": ("", "a"), "capitals": ("", "A"), "digits": ("", "9"), "accented letters": ("", "\u00e9"),
    "underscores": ("", "_"), "IPv6 groups": ("", "f:"),
}
ADVERSARIAL = {
    "one-digit groups, each separator": _doc(*("1" + sep for sep in SEPARATORS[:6])),
    "one-digit groups, other separators": _doc(*("2" + sep for sep in SEPARATORS[6:])),
    "digit groups that could be cards": _doc("4111 ", "2 3 ", "5-0-1-8-", "12 "),
    "cards and card fragments": _doc("4111 1111 1111 1111 ", "4111 1111 ", "1800 0000 0000 002 "),
    "e-mail fragments": _doc(_numbered("user{i}@ex{i}.com ", SIZE // 4), "a@", "a@b.", "a.a@a.a@"),
    "IBAN fragments": _doc("DE89 3704 0044 0532 0130 00 ", "DE89 ", "GB82 WEST ", "DE89 3704 "),
    "phone fragments": _doc("+1 415 555 0132 ", _numbered("(415) 555-{i4} ", SIZE // 5), "+1 415 ", "+", "(1"),
    "URL fragments": _doc(_numbered("https://x{i}.org/p ", SIZE // 3), "http://", "www.a "),
    "IP and SSN fragments": _doc(":", "1.", "10.0.0.1 ", "123-45-6789 ", "::ffff:10.0.0."),
    "deep Unicode": _doc("a\u0301\u0302\u0303", "\U0001d7cf ", "\u0661 ", "\U0001f468\u200d\U0001f469\u200d",
                         "\u00df", "\u05d0\u200f ", "\ufb01"),
    **{f"long token: {name}": _doc(token) for name, token in LONG_TOKENS.items()},
}
PLAIN = _fill("The committee met on a grey morning and talked about the harvest, the river and the roads. "
              "Nobody wrote anything down; the minutes were kept by memory alone, as always. ", SIZE)


class CapitalisedWords:
    """A model stand-in: every capitalised word is a ``GIVEN_NAME`` (so propagation and conflict
    resolution have many spans and values to work on, as a model on names would give them)."""

    def entities(self, texts):
        return [[Entity("GIVEN_NAME", m.start(), m.end(), 0.9) for m in re.finditer(r"\b[A-Z]\w*", t)]
                for t in texts]


class _OverBudget(Exception):
    pass


def _seconds(run, text: str, limit: float = 0.0) -> float:
    """Seconds ``run(text)`` takes: with a ``limit``, a run over it is stopped by an alarm (inf)
    and one over half of it is tried once more (the best counts: the machine may be busy);
    without, the best of two runs (a baseline)."""
    def alarm(*_):
        raise _OverBudget

    best = float("inf")
    for _ in range(2):
        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            start = time.perf_counter()
            run(text)
            best = min(best, time.perf_counter() - start)
        except _OverBudget:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if limit and best < limit / 2:
            break
    return best


def _redactor() -> Redactor:
    return Redactor(CapitalisedWords(), build_recognizers())


def _detectors():
    yield "redactor", lambda text: _redactor().redact([text])
    for recognizer in build_recognizers(AVAILABLE):
        yield recognizer.name, recognizer.find


@pytest.fixture(scope="module")
def redactor_baseline() -> float:
    return _seconds(lambda text: _redactor().redact([text]), PLAIN)


@pytest.mark.parametrize("name,find", list(_detectors()), ids=lambda v: v if isinstance(v, str) else "")
def test_no_adversarial_document_costs_more_than_a_multiple_of_plain_text(name, find, redactor_baseline):
    probe = _seconds(find, PLAIN[:SLOW_CHARS]) / SLOW_CHARS
    size = SIZE if probe < SLOW_PER_CHAR else SLOW_CHARS
    own = _seconds(find, PLAIN[:size]) / size
    baseline = max(own, redactor_baseline / SIZE) * size
    slow = {}
    for case, text in ADVERSARIAL.items():
        seconds = _seconds(find, text[:size], limit=BUDGET * baseline * 2)
        if seconds > BUDGET * baseline:
            slow[case] = "stopped" if seconds == float("inf") else f"{seconds / baseline:.0f}x"
    assert not slow, f"{name}: plain text {baseline * 1e3:.1f} ms for {size} characters; over {BUDGET}x: {slow}"


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_conflict_resolution_of_many_overlapping_spans_costs_a_multiple_of_plain_text(strategy, redactor_baseline):
    """A span at every 2nd character, each 40 long (as a model and recognizers can overlap on a
    dense document), labels alternating between groups: every strategy stays within budget."""
    labels = ("PHONE", "GIVEN_NAME", "SURNAME", "CITY")
    spans = [Entity(labels[i % 4], p, p + 40, 0.5 + (i % 7) / 20) for i, p in enumerate(range(0, SIZE - 40, 2))]
    seconds = _seconds(lambda text: resolve(spans, text, strategy), PLAIN, limit=BUDGET * redactor_baseline * 2)
    assert seconds <= BUDGET * redactor_baseline, f"{strategy}: over {BUDGET}x plain text (stopped at {2 * BUDGET}x)"
