"""``ner-stage bench``: a group whose sub-commands live in ``pipeline.devtools.bench.<name>`` (lazy)."""

from __future__ import annotations

import click

from pipeline.cli.main import LazyGroup

#: name -> one-line help; the command is ``pipeline.devtools.bench.<name>.command``
BENCHMARKS = {
    "engine": "Engine + tokenize + decode: docs/s, tokens/s, latency; vs transformers.",
    "http": "HTTP /predict_tokens latency and throughput; vs a transformers server.",
    "kafka": "End-to-end Kafka stage throughput vs engine-only and a naive worker.",
    "redact": "Redaction leak rate per PII type and docs/s; vs Presidio.",
}


@click.group("bench", cls=LazyGroup,
             sections={"Benchmarks": {name: (f"pipeline.devtools.bench.{name}", help_)
                                      for name, help_ in BENCHMARKS.items()}})
def command() -> None:
    """Run a benchmark; results are printed, saved as JSON and plotted as PNG (--out)."""
