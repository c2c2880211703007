"""Splitting a long token sequence into overlapping model windows, and merging them back.

Pure functions on token counts, so the rules are easy to test: windows of ``capacity``
content tokens advance by ``capacity - stride``; every token takes its scores from the window
in which it has the most context on its *shorter* side (the window where it sits furthest from
an edge). Ties go to the earlier window, so results do not depend on batch order.
"""

from __future__ import annotations

import numpy as np


def plan_windows(n_tokens: int, capacity: int, stride: int) -> list[tuple[int, int]]:
    """Content-token ranges ``[start, end)`` covering ``n_tokens`` with ``stride`` overlap."""
    if capacity < 1:
        raise ValueError("window capacity must be at least one token")
    if n_tokens <= capacity:
        return [(0, n_tokens)]
    stride = max(0, min(stride, capacity // 2))
    step = capacity - stride
    windows = []
    start = 0
    while True:
        end = min(start + capacity, n_tokens)
        windows.append((start, end))
        if end == n_tokens:
            return windows
        start += step


def assign_owners(n_tokens: int, windows: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """For each token: the index of the window it reads scores from, and its position there."""
    owner = np.zeros(n_tokens, dtype=np.int64)
    position = np.arange(n_tokens, dtype=np.int64)
    if len(windows) <= 1:
        return owner, position
    best = np.full(n_tokens, -1, dtype=np.int64)
    for index, (start, end) in enumerate(windows):
        pos = np.arange(end - start, dtype=np.int64)
        context = np.minimum(pos, (end - start - 1) - pos)
        better = context > best[start:end]
        best[start:end][better] = context[better]
        owner[start:end][better] = index
        position[start:end][better] = pos[better]
    return owner, position
