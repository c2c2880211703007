"""A real-text redaction corpus derived at bench time from Debian changelogs on this machine.

``/usr/share/doc/<package>/changelog.Debian.gz`` (and a native package's ``changelog.gz``) is
text no one here wrote: people's names and e-mail addresses next to the technical tokens a
log or ticket stream must keep (bug numbers ``#1024598``, versions ``1.2.5.1-1``, paths
``debian/rules``, CVE ids, hex digests). Every Debian installation with dpkg has them, so the
corpus is built, not committed (their licences are the packages'; nothing is copied into the
repository). The documents are the first entries of each changelog, grouped a few per
document so that a name recurs inside one document (what propagation is for).

Gold spans come from written rules, not from any detector:

- **e-mail**: an address between angle brackets (``<doko@debian.org>``): the changelog format
  puts every maintainer's address there;
- **name**: a person (two or more capitalised words, no team or role word such as ``Debian
  Janitor`` or ``Release Team``): the maintainer of a trailer line (`` -- Matthias Klose <doko@...>  date``), a
  co-maintainer heading (``[ Helmut Grohne ]``), the words right before an angle-bracketed
  address (``Thanks to Jane Roe <jane@...>``), and every further occurrence of such a name in
  the same document (a name in parentheses, ``Fix build (Helmut Grohne)``);
- **technical token**: the package name and version of an entry header, ``#NNN`` bug numbers,
  CVE ids, dotted version strings, slash paths and file names, hex digests, identifiers with an
  underscore (``LC_ALL``, ``dh_install``) and command-line options; never PII, so any
  redaction touching one is a false positive. Tokens inside a gold value or a URL are left out.

Names no rule can see (a contributor mentioned only in prose) are neither gold nor technical:
redacting or keeping them is not scored. The split is by a hash of the package name, so a
package is wholly in ``tune`` (what rules may be tuned on) or in ``heldout`` (looked at at the
end), on every machine that has it.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

from pipeline.devtools.bench.pii_corpus import Document, Planted

DOC_ROOT = Path("/usr/share/doc")
SPLITS: tuple[str, ...] = ("tune", "heldout")
#: Changelog entries per package read, and per document.
ENTRIES_PER_PACKAGE, ENTRIES_PER_DOC = 6, 3
#: Body lines kept per entry (some security uploads list hundreds of files).
MAX_BODY_LINES = 24

_HEADER = re.compile(r"^([a-z0-9][a-z0-9.+-]+) \(([^()\s]+)\) [^;\n]+; urgency=", re.M)
_TRAILER = re.compile(r"^ -- ([^<>\n]+?) <([^<>\s@]+@[^<>\s]+)>  ", re.M)
_HEADING = re.compile(r"^  \[ ([^\[\]\n]+?) \]$", re.M)
_ANGLED = re.compile(r"<([^<>\s@]+@[^<>\s@]+\.[A-Za-z]{2,})>")
_BEFORE_ADDRESS = re.compile(r"((?:[A-Z][\w'’.-]*\s){0,3}[A-Z][\w'’-]+) <[^<>\s@]+@")
_ROLE = frozenset("janitor team maintainers developers group project translations bot release "
                  "security debian ubuntu qa".split())
_URL = re.compile(r"\b(?:https?|ftp)://\S+")
_TECHNICAL = re.compile(
    r"#\d{3,}\b"
    r"|\bCVE-\d{4}-\d{4,}\b"
    r"|(?<![\w.])v?\d+(?:\.\d+)+(?:[-+~][0-9A-Za-z.+~]+)?(?![\w.])"
    r"|(?<![\w/.])/?[\w.+-]+(?:/[\w.+-]*[\w+-])+/?"
    r"|\b[\w-]+\.(?:c|h|cc|cpp|py|sh|pl|pm|rb|js|json|xml|in|am|ac|mk|patch|diff|conf|cfg|so|txt|md|rst|yml|yaml)\b"
    r"|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b"
    r"|(?<!\w)_*[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+\b"
    r"|(?<![\w-])--[a-z][a-z0-9-]+"
)
_SPLIT_OF = {0: "heldout"}  # a third of the packages are held out


def split_of(package: str) -> str:
    """``tune`` or ``heldout``, from a hash of the package name (stable on every machine)."""
    digest = int.from_bytes(hashlib.sha256(package.encode("utf-8")).digest()[:4], "big")
    return _SPLIT_OF.get(digest % 3, "tune")


def changelog_files(root: Path = DOC_ROOT) -> list[tuple[str, Path]]:
    """``(package, path)`` for every Debian changelog under ``root``, sorted by package."""
    out = []
    for directory in sorted(p for p in root.glob("*") if p.is_dir()):
        for name in ("changelog.Debian.gz", "changelog.gz"):
            path = directory / name
            if path.is_file():
                out.append((directory.name, path))
                break
    return out


def _entries(text: str) -> list[str]:
    """The changelog's entries (header .. trailer), bodies cut to ``MAX_BODY_LINES``."""
    starts = [m.start() for m in _HEADER.finditer(text)]
    out = []
    for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
        lines = text[start:end].rstrip().splitlines()
        trailer = next((i for i, line in enumerate(lines) if line.startswith(" -- ")), None)
        if trailer is None or not re.match(r" -- [^<>]+ <[^<>]+>", lines[trailer]):
            continue
        body = lines[1:trailer]
        if len(body) > MAX_BODY_LINES:
            body = body[:MAX_BODY_LINES]
        out.append("\n".join([lines[0], *body, lines[trailer]]))
    return out


def _names(text: str) -> set[str]:
    names = {m.group(1).strip() for m in _TRAILER.finditer(text)}
    names |= {m.group(1).strip() for m in _HEADING.finditer(text)}
    names |= {m.group(1).strip() for m in _BEFORE_ADDRESS.finditer(text)}
    # a person's name: two words at least, each capitalised, none a team or role word
    return {n for n in names if len(n.split()) >= 2 and "@" not in n
            and all(w[:1].isupper() for w in n.split()) and not _ROLE.intersection(n.lower().split())}


def gold(text: str) -> Document:
    """The document with its gold PII (``planted``) and technical tokens, by the rules above."""
    spans: list[Planted] = [Planted("email", m.group(1), m.start(1), m.end(1)) for m in _ANGLED.finditer(text)]
    for name in sorted(_names(text), key=len, reverse=True):
        for m in re.finditer(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text):
            if not any(p.start < m.end() and m.start() < p.end for p in spans):
                spans.append(Planted("name", name, m.start(), m.end()))
    spans.sort(key=lambda p: p.start)
    blocked = [(p.start, p.end) for p in spans] + [m.span() for m in _URL.finditer(text)]
    technical = []
    for m in _HEADER.finditer(text):
        technical += [m.span(1), m.span(2)]
    for m in _TECHNICAL.finditer(text):
        technical.append(m.span())
    technical = sorted({t for t in technical if not any(s < t[1] and t[0] < e for s, e in blocked)})
    return Document(text, tuple(spans), tuple(technical))


def documents(files: Iterable[tuple[str, Path]], split: str) -> list[Document]:
    """The documents of ``split`` from these changelogs, in package order."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    docs = []
    for package, path in files:
        if split_of(package) != split:
            continue
        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8")
        except (OSError, UnicodeDecodeError, EOFError):
            continue  # an unreadable or non-UTF-8 changelog is not part of the corpus
        entries = _entries(text)[:ENTRIES_PER_PACKAGE]
        for i in range(0, len(entries), ENTRIES_PER_DOC):
            doc = gold("\n\n".join(entries[i : i + ENTRIES_PER_DOC]))
            if doc.planted:
                docs.append(doc)
    return docs


def real_corpus(split: str, n: int | None = None, root: Path = DOC_ROOT) -> list[Document]:
    """Up to ``n`` documents (all if None) of the ``split`` part, built from ``root``."""
    docs = documents(changelog_files(root), split)
    return docs if n is None else docs[:n]


def fingerprint(docs: Iterable[Document]) -> str:
    """A digest of the texts, recorded with results so two machines' corpora can be compared."""
    digest = hashlib.sha256()
    for doc in docs:
        digest.update(doc.text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]
