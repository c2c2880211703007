"""Reading texts for CLI commands: positional arguments or a JSONL file of {"text": ...}."""

from __future__ import annotations

import json
from pathlib import Path

import click


def read_texts(texts: tuple[str, ...], file: str | None) -> list[str]:
    """Texts from arguments, or from ``file`` (one JSON object with a "text" field per line)."""
    if texts and file:
        raise click.UsageError("give texts as arguments or --file, not both")
    if not file:
        if not texts:
            raise click.UsageError("give at least one TEXT or --file F.jsonl")
        return list(texts)
    out = []
    for number, record in json_lines(file):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise click.BadParameter(f"line {number}: expected {{\"text\": str}}", param_hint="--file")
        out.append(record["text"])
    return out


def json_lines(path: str) -> list[tuple[int, object]]:
    """(line number, parsed value) for each non-blank line of a JSON-lines file; an unreadable
    file or a line that is not JSON is a ``--file`` usage error naming the line, never its text."""
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028 is valid inside JSON
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"{path}: cannot read ({type(exc).__name__})", param_hint="--file") from exc
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"line {number}: not JSON ({exc.msg})", param_hint="--file") from exc
    return out
