"""The engine contract: a numpy batch in, float32 logits out.

Kept deliberately tiny (after text-embeddings-inference's ``Backend`` trait): batching,
tokenization and decoding live in ``pipeline``, so a new runtime only has to turn int64 id
matrices into logits. Engines never see text, Kafka, HTTP or pydantic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True, slots=True)
class EngineBatch:
    """A padded batch of token ids, shape ``[batch, seq]`` each, dtype int64."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.input_ids.shape  # type: ignore[return-value]

    @property
    def padded_tokens(self) -> int:
        """Tokens the engine computes, padding included (what a token budget limits)."""
        return int(self.input_ids.size)

    @classmethod
    def from_sequences(cls, sequences: list[np.ndarray], pad_id: int) -> EngineBatch:
        """Right-pad id sequences of different lengths into one batch."""
        width = max((len(s) for s in sequences), default=0)
        ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(sequences), width), dtype=np.int64)
        for row, seq in enumerate(sequences):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        return cls(ids, mask, np.zeros_like(ids))


class EngineSettings(Protocol):
    """What engines read from ``pipeline.config.ModelSettings`` (engines never import pydantic or
    the pipeline, so they see it through this protocol). Each engine's ``from_settings`` takes
    the fields it uses; the others mean nothing to it."""

    engine: str
    threads: int | None
    spin: bool
    max_batch_tokens: int
    max_batch_size: int
    max_seq_len: int | None
    precision: str
    cache_dir: str | None
    device: int


@runtime_checkable
class Engine(Protocol):
    """What every inference runtime provides."""

    name: str
    num_labels: int
    #: Padded tokens per ``run`` call the engine is most efficient with (batcher budget).
    max_batch_tokens: int
    #: Longest sequence the engine accepts (model window, special tokens included).
    max_seq_len: int

    def run(self, batch: EngineBatch) -> np.ndarray:
        """Return float32 logits of shape ``[batch, seq, num_labels]``."""
        ...

    def warmup(self) -> None:
        """Run representative shapes once so the first real request is not slow."""
        ...

    def health(self) -> bool:
        """True when the engine can serve (a tiny batch runs)."""
        ...

    def close(self) -> None:
        """Release runtime resources (sessions, device memory)."""
        ...
