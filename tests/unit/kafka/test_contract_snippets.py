"""KAFKA_CONTRACTS.md's code is quoted from the clients the interop tests run, so it cannot rot.

Every fenced block in a programming language must follow a ``<!-- snippet: PATH#NAME -->``
comment and equal, verbatim (after removing the common indentation), the lines between
``snippet:NAME start`` and ``snippet:NAME end`` in PATH, a client under ``tests/interop/`` that
``tests/integration/kafka/test_interop_clients.py`` runs.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "KAFKA_CONTRACTS.md"
INTEROP_TEST = ROOT / "tests" / "integration" / "kafka" / "test_interop_clients.py"
CODE_LANGUAGES = {"python", "py", "js", "javascript", "java", "go", "ts", "typescript"}
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
MARKER = re.compile(r"<!-- snippet: (\S+)#(\S+) -->\s*$")


def region(path: Path, name: str) -> str:
    """The lines between the ``snippet:NAME start`` and ``snippet:NAME end`` comment lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip().endswith(f"snippet:{name} start")]
    ends = [i for i, line in enumerate(lines) if line.strip().endswith(f"snippet:{name} end")]
    assert len(starts) == 1 and len(ends) == 1 and starts[0] < ends[0], f"{path}: no single region {name!r}"
    return textwrap.dedent("\n".join(lines[starts[0] + 1 : ends[0]])).strip("\n")


def quoted_blocks(text: str) -> list[tuple[str, str | None, str]]:
    """(language, 'PATH#NAME' of the marker right above it or None, code) for every fenced block."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.match(before.strip())
        blocks.append((match.group(1), f"{marker.group(1)}#{marker.group(2)}" if marker else None,
                       match.group(2).rstrip("\n")))
    return blocks


BLOCKS = [b for b in quoted_blocks(DOC.read_text(encoding="utf-8")) if b[0] in CODE_LANGUAGES]


def test_the_contract_quotes_node_java_and_python_clients():
    files = {ref.split("#")[0] for _, ref, _ in BLOCKS if ref}
    assert any(f.endswith(".js") for f in files) and any(f.endswith(".java") for f in files)
    assert any(f.endswith(".py") for f in files)


@pytest.mark.parametrize(("language", "ref", "code"), BLOCKS, ids=[b[1] or f"unmarked-{b[0]}" for b in BLOCKS])
def test_every_code_block_is_a_verbatim_excerpt_of_a_tested_client(language, ref, code):
    assert ref is not None, f"a {language} block in {DOC.name} has no <!-- snippet: PATH#NAME --> marker:\n{code}"
    path, name = ref.split("#")
    assert path.startswith("tests/interop/"), f"{path}: snippets come from the interop clients"
    assert Path(path).stem in INTEROP_TEST.read_text(encoding="utf-8") + (
        ROOT / "tests" / "integration" / "kafka" / "interop.py").read_text(encoding="utf-8"), \
        f"{path} is not run by the interop tests"
    assert code == region(ROOT / path, name), f"{DOC.name} differs from {ref}"


def test_region_and_marker_parsing_catch_drift(tmp_path):
    client = tmp_path / "c.js"
    client.write_text("x\n  // snippet:a start\n  const a = 1\n  // snippet:a end\n", encoding="utf-8")
    assert region(client, "a") == "const a = 1"
    doc = "<!-- snippet: tests/interop/c.js#a -->\n```js\nconst a = 2\n```\n\n```java\nint b;\n```\n"
    assert quoted_blocks(doc) == [("js", "tests/interop/c.js#a", "const a = 2"), ("java", None, "int b;")]
    with pytest.raises(AssertionError):
        region(client, "b")
