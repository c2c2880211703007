"""A writable copy of the deployment files, to break on purpose and check the validators notice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


class Tree:
    """The copied project tree; ``edit`` replaces text that must be there (so a test cannot pass vacuously)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def edit(self, relative: str, old: str, new: str, count: int = 1) -> None:
        path = self.root / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}: update the test to the file"
        path.write_text(text.replace(old, new, count), encoding="utf-8")


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copy2(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copytree(REPO / "deploy", tmp_path / "deploy", ignore=ignore)
    shutil.copytree(REPO / "pipeline", tmp_path / "pipeline", ignore=ignore)
    (tmp_path / "docs").mkdir()
    shutil.copy2(REPO / "docs" / "OPERATIONS.md", tmp_path / "docs" / "OPERATIONS.md")
    return Tree(tmp_path)
