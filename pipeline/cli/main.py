"""Entry point of ``ner-stage``.

Commands are imported lazily (``LazyGroup``) so ``ner-stage predict`` never imports FastAPI or
confluent-kafka, and ``--help`` stays instant. Each command module defines ``command``, a click
command; add one by adding a line to ``COMMANDS``. The workbench's commands (``run``, ``broker``,
``bench``) are added from ``pipeline.devtools.cli`` when that package is installed (a checkout or
an editable install; the wheel leaves it out): see docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import importlib
import sys

import click

from engines.errors import NerStageError

#: name -> (module, one-line help shown by ``ner-stage --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "predict": ("pipeline.cli.predict", "Run token classification on texts; print /predict_tokens JSON."),
    "redact": ("pipeline.cli.redact", "Redact PII in texts; print {redacted_text, entities} JSON."),
    "serve": ("pipeline.cli.serve", "Serve the HTTP API (/predict_tokens, /redact, async jobs)."),
    "worker": ("pipeline.cli.worker", "Run Kafka consumer workers (entities, redacted text, dead letters)."),
    "topics": ("pipeline.cli.topics", "Create or describe the stage's Kafka topics (partitions, limits)."),
    "produce": ("pipeline.cli.produce", "Send documents from a JSON-lines file to the input topic."),
    "export": ("pipeline.cli.export", "Export a Hugging Face checkpoint to a model bundle (ONNX)."),
    "build-engine": ("pipeline.cli.build_engine", "Build (and cache) a TensorRT plan for a bundle."),
    "eval": ("pipeline.cli.eval", "Entity-level precision/recall/F1 on a labelled JSONL file."),
}


def _workbench() -> dict[str, tuple[str, str]]:
    """The workbench's commands, or none where ``pipeline.devtools`` is not installed (a broken
    one is our bug and raises)."""
    try:
        from pipeline.devtools.cli import COMMANDS as workbench  # noqa: TID251 - the one registration point
    except ModuleNotFoundError as exc:
        if exc.name not in ("pipeline.devtools", "pipeline.devtools.cli"):
            raise
        return {}
    return workbench


#: help section -> its commands; the workbench's where it is installed (a checkout, an editable install)
SECTIONS = {"Commands": dict(COMMANDS), "Development commands (pipeline.devtools)": _workbench()}
COMMANDS.update(SECTIONS["Development commands (pipeline.devtools)"])


class LazyGroup(click.Group):
    """A group whose commands are imported when used: ``sections`` maps a help section's title to
    its commands, name -> (module defining ``command``, one-line help)."""

    def __init__(self, *args, sections: dict[str, dict[str, tuple[str, str]]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sections = sections
        self.lazy = {name: entry for commands in sections.values() for name, entry in commands.items()}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.lazy)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return None
        return importlib.import_module(self.lazy[cmd_name][0]).command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for title, commands in self.sections.items():
            if commands:
                with formatter.section(title):
                    formatter.write_dl([(name, help_) for name, (_, help_) in commands.items()])


@click.group(cls=LazyGroup, sections=SECTIONS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="ner-stage")
def cli() -> None:
    """ner-stage: streaming named-entity recognition for Kafka pipelines and HTTP.

    Every setting is a flag, an NER_<NAME> environment variable and a key in a config file
    given with --config (or NER_CONFIG); each command's --help lists them with their variables.
    (The benchmark parameters of `bench` are flags only.)
    """


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except NerStageError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
