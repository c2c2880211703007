"""Regenerate engines/calibration/tune.jsonl: the texts static int8 recipes calibrate on.

Drawn from the development corpus (``pipeline.devtools.bench.pii_corpus.dev``: business messages and
prose, the corpus the stage's thresholds were tuned on) with its own seed, so the documents
the benches score are not the ones calibrated on, and never from the held-out corpus. One JSON
string per line. Needs the dev extra (Faker):

    python scripts/make_calibration.py
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.devtools.bench.pii_corpus import dev  # noqa: TID251 - a development script

OUT = Path(__file__).resolve().parents[1] / "engines" / "calibration" / "tune.jsonl"
SEED = 11
COUNT = 256


def main() -> None:
    texts = [doc.text for doc in dev(COUNT, seed=SEED)]
    OUT.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    print(f"wrote {len(texts)} texts to {OUT}")


if __name__ == "__main__":
    main()
