"""Entity spans: the one type that crosses from decoding into redaction and the outputs.

Offsets are character offsets into the original Python string (``text[start:end]`` is the
entity), which is what every consumer (Kafka records, /predict_tokens, redaction) needs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entity:
    """A labelled span of the original text."""

    label: str
    start: int
    end: int
    score: float
    #: Who found it: "model" or a pattern recognizer's name (e.g. "pattern:email").
    source: str = "model"

    def text_of(self, text: str) -> str:
        return text[self.start : self.end]

    def to_dict(self, text: str | None = None) -> dict:
        out = {"label": self.label, "start": self.start, "end": self.end, "score": round(float(self.score), 6)}
        if text is not None:
            out["text"] = text[self.start : self.end]
        return out
