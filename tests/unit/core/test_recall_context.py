"""``recall_context``: what recall may add to a name or an address, by shape and context."""

from __future__ import annotations

import pytest

from pipeline.recall_context import ADDRESS_CONTEXT, admit_recall, screen_argmax, technical


@pytest.mark.parametrize("token", ["#1009825", "evince#1842", "1.2.5.1-1", "2:1.0+dfsg-3", "590-2.1~deb12u1",
                                   "v1.2.3", "a/b/c.py", "c++/105774", "debian/rules", "config.py",
                                   "4ec8dbf", "9290525c774290e451b13f7cdf81262d7656e3ed", "CVE-2024-28085",
                                   "LC_ALL", "_FORTIFY_SOURCE", "APT::Color", "--help", "501(c)3", "apt(8)",
                                   "lintian!452", "0x1000", "x" * 200])
def test_technical_tokens(token):
    assert technical(token)


@pytest.mark.parametrize("token", ["Smith", "O'Neil", "221B", "4471", "(415)", "555-0132", "john@example.com",
                                   "https://example.com/a", "Baker", "CTYPE", "94043", "NW1"])
def test_not_technical(token):
    assert not technical(token)


def _admit(group, text, word, mass=0.5, places=()):
    start = text.index(word)
    return admit_recall(group, text, start, start + len(word), mass, places)


def test_technical_shapes_are_never_names_nor_addresses():
    assert _admit("ADDRESS", "Closes: #1009825.", "1009825") is None
    assert _admit("ADDRESS", "pkg (1.2.5.1-1) unstable", "1") is None
    assert _admit("NAME", "Undefine _FORTIFY_SOURCE now", "FORTIFY") is None
    assert not screen_argmax("ZIP_CODE", "Closes: #1009825.", 9, 16)
    assert not screen_argmax("DRIVERS_LICENSE", "[4ec8dbf] New upstream", 1, 8)
    assert screen_argmax("PHONE", "call 415.555.0132", 5, 17)  # phones are never screened


def test_numbers_join_addresses_only_near_an_address():
    assert _admit("ADDRESS", "Invoice 4471 was paid", "4471") is None
    assert _admit("ADDRESS", "Ship to 221B Baker Street", "221B") == ADDRESS_CONTEXT
    assert _admit("ADDRESS", "at 42 Elm, Springfield", "42", places=[(6, 9)]) == ADDRESS_CONTEXT


def test_places_need_a_capital_and_not_an_acronym():
    assert _admit("ADDRESS", "paid by card today", "card") is None
    assert _admit("ADDRESS", "from IBAN DE89", "IBAN") is None
    assert _admit("ADDRESS", "moved to Springfield", "Springfield") == ""


def test_names_need_a_capital_and_more_mass_at_a_sentence_start():
    assert _admit("NAME", "Call Maria Garcia now", "Call", mass=0.01) is None
    assert _admit("NAME", "Vojta said hi", "Vojta", mass=0.01) is None
    assert _admit("NAME", "Vojta said hi", "Vojta", mass=0.5) == ""
    text = "Vojta Novak said hi"
    assert admit_recall("NAME", text, 0, 5, 0.01, (), [6]) == "name-follows"
    assert admit_recall("NAME", "Ingrid, Elisabeth and Mari", 0, 6, 0.01, (), [8]) == "name-follows"
    assert _admit("NAME", "ok.\nSelam: hi", "Selam", mass=0.01) == ""  # a speaker
    assert _admit("NAME", "founders: Bašić and Smith", "Bašić", mass=0.02) == ""
    assert _admit("NAME", "founders: lvm2 and Smith", "lvm2") is None
