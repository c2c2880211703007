"""The dead-letter circuit breaker: stop a stream that is turning into poison.

Dead-lettering one bad record and going on is right; dead-lettering most of a stream is not
(a producer deployed a broken serializer, someone pointed the stage at the wrong topic): the
stream would be diverted into the dead-letter topic, to be re-driven by hand. So the worker
keeps the outcome of the last ``window`` records, and when more than ``max_share`` of that
window were dead-lettered it stops with :class:`DeadLetterBreakerError` (a stage error: the
record that tripped it and everything after it stay uncommitted; a restart resumes there).

The share is over the whole window (``letters > max_share * window``), so the first few
records of a run cannot trip it by themselves: with the defaults (50 % of 500) it takes more
than 250 dead letters among the last 500 records. ``max_share = 1`` turns the breaker off.
The breaker starts closed on every start of the worker (its window is not persisted).
"""

from __future__ import annotations

from collections import deque

from pipeline.kafka.errors import DeadLetterBreakerError


class DeadLetterBreaker:
    def __init__(self, max_share: float = 0.5, window: int = 500, gauge=None, share_gauge=None) -> None:
        self.max_share = max_share
        self.window = window
        self._outcomes: deque[bool] = deque(maxlen=window)
        self._letters = 0
        self._gauge = gauge  # ner_kafka_dead_letter_breaker_open
        self._share_gauge = share_gauge  # ner_kafka_dead_letter_share
        self.tripped: DeadLetterBreakerError | None = None

    @property
    def share(self) -> float:
        """Dead letters among the last ``window`` records, over ``window``."""
        return self._letters / self.window

    def record(self, dead_lettered: bool) -> bool:
        """Count one record's outcome; True if this one trips the breaker."""
        if len(self._outcomes) == self.window and self._outcomes[0]:
            self._letters -= 1
        self._outcomes.append(dead_lettered)
        self._letters += dead_lettered
        if self._share_gauge is not None:
            self._share_gauge.set(self.share)
        if self.tripped is None and self.max_share < 1 and self._letters > self.max_share * self.window:
            self.tripped = DeadLetterBreakerError(
                f"dead-letter breaker open: {self._letters} of the last {self.window} records were dead-lettered "
                f"(limit {self.max_share:.0%}); fix the producer or the stage, then restart (see OPERATIONS.md)")
            if self._gauge is not None:
                self._gauge.set(1)
            return True
        return False

    def first_trip(self, outcomes: list[bool]) -> int | None:
        """Index of the outcome that would trip the breaker, counting from now (state unchanged)."""
        window, letters = deque(self._outcomes, maxlen=self.window), self._letters
        for i, bad in enumerate(outcomes):
            if len(window) == self.window and window[0]:
                letters -= 1
            window.append(bad)
            letters += bad
            if self.max_share < 1 and letters > self.max_share * self.window:
                return i
        return None

    def check(self) -> None:
        """Raise the breaker's error if it has tripped."""
        if self.tripped is not None:
            raise self.tripped
