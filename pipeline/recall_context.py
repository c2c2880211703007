"""What the model may add to a name or an address, decided by context and shape, not by
probability alone: the one place these rules live.

Recall decoding (``pipeline.recall``) lets a word join an entity with a few percent of
probability mass, which is what finds names in running prose; on technical text the same
mass turns bug numbers into ZIP codes, versions into building numbers and ``CTYPE`` into a
given name (a third of the technical tokens of real changelogs were redacted). The rules:

- ``technical-shape``: a token shaped like a ticket, version, path, file name, hash, CVE id,
  identifier or option (``#1024598``, ``evince#1842``, ``1.2.5.1-1``, ``a/b/c.py``,
  ``4ec8dbf``, ``LC_ALL``, ``APT::Color``, ``--help``) is never a name, an address part or an
  ID-like label (``SCREENED_LABELS``) by argmax, and gets no label at all by recall (a pattern
  recognizer may still report it as PII: an IP address, a card); propagation does not copy a
  value into one either, nor propagate a lower-case name or place (``avahi``);
- ``address-number-needs-context``: recall lets a word with a digit join an address only
  near an address: a street word (``Street``, ``Ave``, ``Suite``...) or a model address span
  with letters within a few words on the same line; kept spans say so in their source
  (``model:recall:address-context``);
- ``place-needs-capital``: recall lets a word join an address (city, street...) only if it
  starts with a capital and is not a short acronym (``IBAN``) nor a function word; lower-case
  dictionary words (``card``, ``daemon``) never do by recall alone;
- ``name-shape``: recall lets a word join a name only if it is capitalised, has no digit, is
  not a short acronym nor a capitalised function word (``The``, ``Call``...);
- ``sentence-start``: a capitalised word opening a sentence is capitalised by grammar, not
  because it is a name: below argmax it joins a name only with ``SENTENCE_START_MASS``
  (``Call Maria Garcia``: ``Call`` has 1 % name mass), unless it names a speaker (``Selam:``)
  or an argmax name follows it (``Vojtěch Novák had...``, ``Ingrid, Elisabeth and Mari``:
  ``model:recall:name-follows``).

Every window of context is bounded (``_WINDOW`` characters), so the rules are linear in the
text. Argmax spans of other labels (phones, e-mails...) are never touched here.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from pipeline.spans import LABEL_GROUPS

#: Source suffix of a recall word admitted because of its address context.
ADDRESS_CONTEXT = "address-context"
#: Source suffix of a sentence-opening recall word admitted because a name follows it.
NAME_FOLLOWS = "name-follows"
#: Name mass a sentence-opening capitalised word needs below argmax.
SENTENCE_START_MASS = 0.15
#: Characters of context looked at on each side (bounded: linear time on hostile input).
_WINDOW = 48

#: Capitalised words that are never names or places on their own (sentence openers, verbs
#: of address lines, document words).
FUNCTION_WORDS: frozenset[str] = frozenset(
    "I You He She It We They Me Him Her Us Them My Your His Its Our Their The A An This That These Those "
    "And Or But If When Then There Here What Who Why How Yes No Hi Hello Dear Thanks Thank Please Call "
    "Contact Email Phone Fax Tel Mobile Write Send Reply Ask Tell Invoice Order Ticket Bug Fix Closes "
    "Update Add Remove New Version Release Note See Use For From To In On At By With Of As Is Are Was".split())

_TECHNICAL = re.compile(
    r"[\w.+-]*#\d+"                                # #1024598, evince#1842
    r"|[\w.+-]*!\d+"                               # lintian!452 (merge requests)
    r"|CVE-\d{4}-\d+"
    r"|v?\d+(?::\d+)?(?:\.\d+)+(?:[-+~:][\w.+~:-]*)?"  # 1.2.5.1-1, 2:1.0+dfsg, v1.2.3
    r"|\d+(?:[-+~][\w.+~]*)?\+[\w.+~-]*"          # 122-3+deb12u1
    r"|\d+-\d+\.\d[\w.+~]*|\d[\d.-]*~\w[\w.+~]*"  # 590-2.1, 2.1~deb12u1
    r"|[\w.-]+\.(?:c|h|cc|cpp|py|sh|pl|pm|rb|js|json|xml|in|am|ac|mk|patch|diff|conf|cfg|so|txt|md|rst|yml"
    r"|yaml|gz|xz|deb|dsc|tar|zip|gpg|asc|po|pot|mo|service|desktop|html?|css)"
    r"|(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,64}|0[xX][0-9A-Fa-f]+"  # digests, hex literals
    r"|--?[a-z][\w-]*"                              # --help, -j
    r"|\w*\d\w*\(\w*\)\w*|\w+\(\d\)"                # 501(c)3, apt-patterns(7)
)
#: Longer tokens without a space are never a name or an address part (and bound the regex's work).
_LONGEST_WORDLIKE = 128
_EDGE = ".,;:!?\"'()[]{}<>"
_ADDRESS_WORD = re.compile(
    r"\b(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|court|ct|place|pl|square|sq|way|"
    r"terrace|close|crescent|gardens|highway|hwy|parkway|pkwy|suite|ste|apt|apartment|unit|floor|flat|"
    r"building|bldg|p\.?o\.? box|straße|strasse|str|gasse|weg|platz|rue|calle|via|ulica|ul|vej|gatan|gate|"
    r"veien|ulice|ulica|cesta|city|town|zip|postcode|post code|address)\b\.?",
    re.IGNORECASE,
)
_SENTENCE_END = ".!?\n"


def token_around(text: str, start: int, end: int) -> str:
    """The whitespace-delimited token holding ``[start, end)``, its edge punctuation stripped
    (looked for at most ``_WINDOW`` characters each side)."""
    lo = start
    floor = max(0, start - _WINDOW)
    while lo > floor and not text[lo - 1].isspace():
        lo -= 1
    hi = end
    ceiling = min(len(text), end + _WINDOW)
    while hi < ceiling and not text[hi].isspace():
        hi += 1
    return text[lo:hi].strip(_EDGE)


def technical(token: str) -> bool:
    """Is this token a ticket, version, path, file, hash, identifier or option (never PII by
    itself)? E-mail addresses and URLs are not "technical": their recognizers own them."""
    if not token or "@" in token or "://" in token:
        return False
    if len(token) > _LONGEST_WORDLIKE or "::" in token:  # APT::Color, std::chrono
        return True
    if ("/" in token or "_" in token) and any(ch.isalnum() for ch in token):
        return True  # paths (a/b/c.py, c++/105774), identifiers (LC_ALL, dh_install, _FORTIFY_SOURCE)
    return _TECHNICAL.fullmatch(token) is not None


def _is_capitalised_word(word: str) -> bool:
    if not word[:1].isupper() or word in FUNCTION_WORDS:
        return False
    return not (word.isupper() and len(word) <= 4)


def _sentence_start(text: str, start: int) -> bool:
    """Only whitespace, list bullets or quotes between the previous sentence end (or the start
    of the text) and ``start``."""
    i = start
    floor = max(0, start - _WINDOW)
    while i > floor:
        ch = text[i - 1]
        if ch in _SENTENCE_END:
            return True
        if not (ch.isspace() or ch in "*-•\"'“‘([>"):
            return False
        i -= 1
    return i == 0


def _speaker(text: str, end: int) -> bool:
    """``Selam:`` / ``Selam Tesfaye:`` at a line start: a dialogue speaker, a name by position."""
    line_end = text.find("\n", end, end + _WINDOW)
    head = text[end : line_end if line_end >= 0 else min(len(text), end + _WINDOW)]
    return re.match(r"(?:\s+[A-Z][\w'’-]*)?\s*:", head) is not None


def _address_context(text: str, start: int, end: int, places: Sequence[tuple[int, int]]) -> bool:
    """A street word or a model address span with letters near ``[start, end)``, same line."""
    lo, hi = max(0, start - _WINDOW), min(len(text), end + _WINDOW)
    before, after = text[lo:start], text[end:hi]
    before = before[before.rfind("\n") + 1 :]
    cut = after.find("\n")
    after = after if cut < 0 else after[:cut]
    if _ADDRESS_WORD.search(before) or _ADDRESS_WORD.search(after):
        return True
    left, right = start - len(before), end + len(after)
    return any(s < right and e > left and not (s >= start and e <= end) for s, e in places)


#: Model labels ``technical-shape`` screens (argmax too): names, address parts and the ID-like
#: labels a hash or a ``driver/93371`` path was mistaken for; never phones, e-mails, URLs.
SCREENED_LABELS: frozenset[str] = frozenset(
    [label for label, group in LABEL_GROUPS.items() if group in ("NAME", "ADDRESS")]
    + ["DRIVERS_LICENSE", "PASSPORT", "GOVERNMENT_ID", "TAX_ID"])


def _name_follows(text: str, end: int, names: Sequence[int]) -> bool:
    """Does an argmax name span start after ``end`` with only a space or a comma between
    (``Vojtěch Novák``, a list ``Ingrid, Elisabeth and Mari``)?"""
    i = bisect.bisect_left(names, end)
    return i < len(names) and names[i] - end <= 3 and text[end : names[i]] in (" ", "  ", ", ", ",")


def screen_argmax(label: str, text: str, start: int, end: int) -> bool:
    """Keep an argmax span? Only ``technical-shape`` applies to argmax, and only to
    ``SCREENED_LABELS``."""
    if label not in SCREENED_LABELS:
        return True
    return not technical(token_around(text, start, end))


def admit_recall(group: str | None, text: str, start: int, end: int, mass: float,
                 places: Sequence[tuple[int, int]], names: Sequence[int] = ()) -> str | None:
    """May a recall word ``text[start:end]`` join ``group`` (``NAME``, ``ADDRESS`` or a bare
    label)? ``None``: no; ``""``: yes by its mass alone; otherwise the rule that admitted it
    (a source suffix). ``places``: argmax address spans with letters, for address context;
    ``names``: sorted start offsets of argmax name spans (a sentence-opening word right before
    one is a given name: ``Vojtěch Novák had...``)."""
    word = text[start:end]
    if technical(token_around(text, start, end)):  # recall adds no label to a technical token
        return None
    if group == "NAME":
        if not _is_capitalised_word(word) or any(ch.isdigit() for ch in word):
            return None
        if mass < SENTENCE_START_MASS and _sentence_start(text, start) and not _speaker(text, end):
            return NAME_FOLLOWS if _name_follows(text, end, names) else None
        return ""
    if group == "ADDRESS":
        if any(ch.isdigit() for ch in word):
            return ADDRESS_CONTEXT if _address_context(text, start, end, places) else None
        return "" if _is_capitalised_word(word) else None
    return ""
