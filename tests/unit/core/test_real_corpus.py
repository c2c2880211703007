"""The real-text corpus builder's gold rules, on a changelog written in Debian's format, and its split."""

from __future__ import annotations

import gzip

from pipeline.devtools.bench.real_corpus import documents, gold, split_of

CHANGELOG = """\
foo (1.2.5.1-1) unstable; urgency=medium

  [ Helmut Grohne ]
  * Fix build on musl (Closes: #1023053) in src/main.c.

  [ Debian Janitor ]
  * Apply multi-arch hints; thanks to Jane Q Roe <jane@example.org>.
  * Reviewed by Helmut Grohne; LC_ALL set; upstream 4ec8dbf.

 -- Matthias Klose <doko@debian.org>  Mon, 02 Jan 2023 13:06:21 +0100
"""


def test_gold_names_emails_and_technical_tokens_by_rule():
    doc = gold(CHANGELOG)
    planted = [(p.kind, p.value) for p in doc.planted]
    assert planted == [("name", "Helmut Grohne"), ("name", "Jane Q Roe"), ("email", "jane@example.org"),
                       ("name", "Helmut Grohne"), ("name", "Matthias Klose"), ("email", "doko@debian.org")]
    technical = {CHANGELOG[s:e] for s, e in doc.technical}
    assert {"foo", "1.2.5.1-1", "#1023053", "src/main.c", "LC_ALL", "4ec8dbf"} <= technical
    assert not any("Janitor" in t or "example.org" in t for t in technical)


def test_documents_split_by_package_hash(tmp_path):
    packages = [f"pkg{i}" for i in range(12)]
    for name in packages:
        (tmp_path / name).mkdir()
        (tmp_path / name / "changelog.Debian.gz").write_bytes(gzip.compress(CHANGELOG.encode()))
    files = [(name, tmp_path / name / "changelog.Debian.gz") for name in packages]
    tune, held = documents(files, "tune"), documents(files, "heldout")
    assert len(tune) + len(held) == len(packages) and tune and held
    assert len(held) == sum(split_of(p) == "heldout" for p in packages)
