"""What a validator reports: one :class:`Problem` per defect, with the file and the place in it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Problem:
    """One defect: which check found it, in which file, where in the file, and what is wrong."""

    check: str
    file: str
    where: str
    message: str

    def __str__(self) -> str:
        place = f"{self.file}: {self.where}" if self.where else self.file
        return f"[{self.check}] {place}: {self.message}"


def rel(path: Path, root: Path) -> str:
    """Path as shown in reports: relative to the checked tree when it is inside it."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def load_yaml_documents(path: Path, root: Path, check: str) -> tuple[list[dict], list[Problem]]:
    """Parse every non-empty YAML document of a file; a parse error becomes a Problem, not a crash."""
    try:
        docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    except (OSError, yaml.YAMLError) as exc:
        return [], [Problem(check, rel(path, root), "", f"cannot parse YAML: {exc}")]
    bad = [i for i, doc in enumerate(docs) if not isinstance(doc, dict)]
    problems = [Problem(check, rel(path, root), f"document {i}", "is not a mapping") for i in bad]
    return [doc for doc in docs if isinstance(doc, dict)], problems


def json_path(parts) -> str:
    """``services.worker.ports[0]`` from a jsonschema error path."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
