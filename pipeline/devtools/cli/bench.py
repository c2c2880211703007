"""``ner-stage bench``: a group whose sub-commands live in ``pipeline.devtools.bench.<name>`` (lazy)."""

from __future__ import annotations

import importlib

import click

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "engine": ("engine", "Engine + tokenize + decode: docs/s, tokens/s, latency; vs transformers."),
    "http": ("http", "HTTP /predict_tokens latency and throughput; vs a transformers server."),
    "kafka": ("kafka", "End-to-end Kafka stage throughput vs engine-only and a naive worker."),
    "redact": ("redact", "Redaction leak rate per PII type and docs/s; vs Presidio."),
}


class _BenchGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        return importlib.import_module(f"pipeline.devtools.bench.{SUBCOMMANDS[cmd_name][0]}").command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Benchmarks"):
            formatter.write_dl([(name, help_) for name, (_, help_) in SUBCOMMANDS.items()])


@click.group("bench", cls=_BenchGroup)
def command() -> None:
    """Run a benchmark; results are printed, saved as JSON and plotted as PNG (--out)."""
