"""``mask``: overwrite each character with a mask character, optionally keeping the last N.

The output has the value's length (in code points), so layouts and column widths survive.
``keep_last`` never reveals more than half of a value (rounded down): a 4-digit value with
``keep_last=4`` keeps 2, so a short value is never left fully visible.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.redact.errors import PolicyError


@dataclass(frozen=True, slots=True)
class Mask:
    char: str = "*"
    keep_last: int = 0
    name: str = "mask"
    redacts: bool = True

    def __post_init__(self) -> None:
        if len(self.char) != 1:
            raise PolicyError("mask: 'char' must be exactly one character", field="char")
        if self.keep_last < 0:
            raise PolicyError("mask: 'keep_last' must be >= 0", field="keep_last")

    def apply(self, value: str, label: str) -> str:
        keep = min(self.keep_last, len(value) // 2)
        hidden = len(value) - keep
        return self.char * hidden + value[hidden:]
