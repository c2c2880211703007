"""A fake engine for unit tests: deterministic logits from token ids, no model."""

from __future__ import annotations

import numpy as np

from engines.base import EngineBatch


class FakeEngine:
    """Logits depend on the token id only (context-free) unless ``position_weight`` is set,
    in which case the position inside the sequence is added to label 0 (to see which window
    a token's scores came from)."""

    name = "fake"

    def __init__(self, num_labels: int, max_seq_len: int = 512, max_batch_tokens: int = 4096,
                 position_weight: float = 0.0) -> None:
        self.num_labels = num_labels
        self.max_seq_len = max_seq_len
        self.max_batch_tokens = max_batch_tokens
        self.position_weight = position_weight
        self.calls: list[tuple[int, int]] = []

    def run(self, batch: EngineBatch) -> np.ndarray:
        self.calls.append(batch.shape)
        ids = batch.input_ids
        assert ids.shape[1] <= self.max_seq_len
        labels = np.arange(self.num_labels)
        logits = np.sin((ids[..., None] * 7 + labels * 13) % 17).astype(np.float32) * 3
        if self.position_weight:
            logits[..., 0] += self.position_weight * np.arange(ids.shape[1])[None, :]
        return logits

    def warmup(self) -> None:
        pass

    def health(self) -> bool:
        return True

    def close(self) -> None:
        pass
