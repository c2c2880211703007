"""Pattern recognizers: validated matches only, exact offsets, own score and source."""

from __future__ import annotations

import pytest

from pipeline.redact.errors import PolicyError
from pipeline.redact.recognizers import RECOGNIZERS, PhoneRecognizer, build_recognizers
from pipeline.redact.recognizers.card import luhn_ok
from pipeline.redact.recognizers.iban import mod97_ok

BY_NAME = {r.name: r for r in build_recognizers()}


def found(name: str, text: str) -> list[str]:
    spans = BY_NAME[name].find(text)
    for s in spans:
        assert s.source == f"pattern:{name}" and 0 < s.score <= 1
    return [text[s.start : s.end] for s in spans]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("email", "write to john.smith@example.com.", ["john.smith@example.com"]),
        ("email", "j.doe+news@mail.co.uk, zoë.müller@例え.jp", ["j.doe+news@mail.co.uk", "zoë.müller@例え.jp"]),
        ("email", "not an address: john@localhost or @handle or a@b.c", []),
        ("phone", "call +1 (415) 555-0132 now", ["+1 (415) 555-0132"]),
        ("phone", "415.555.0132 or 415-555-0132", ["415.555.0132", "415-555-0132"]),
        ("phone", "UK: +44 20 7946 0958 or 020 7946 0958", ["+44 20 7946 0958", "020 7946 0958"]),
        ("phone", "Paris +33 1 42 68 53 00", ["+33 1 42 68 53 00"]),
        ("phone", "on 2023-11-05 we shipped 12 boxes, order 12345", []),
        ("card", "visa 4111 1111 1111 1111 and amex 378282246310005", ["4111 1111 1111 1111", "378282246310005"]),
        ("card", "mc 5555-5555-5555-4444.", ["5555-5555-5555-4444"]),
        ("card", "jcb 180052211726693, not a card 100052211726690", ["180052211726693"]),
        ("card", "maestro 675902841666; 12 digits elsewhere 123456789015", ["675902841666"]),
        ("card", "bad luhn 4111 1111 1111 1112, too short 4111 1111", []),
        ("card", "order 41111111111111110000 (20 digits)", []),
        ("iban", "DE89 3704 0044 0532 0130 00 AND MORE", ["DE89 3704 0044 0532 0130 00"]),
        ("iban", "GB82WEST12345698765432, FR1420041010050500013M02606", ["GB82WEST12345698765432",
                                                                         "FR1420041010050500013M02606"]),
        ("iban", "checksum off: DE88 3704 0044 0532 0130 00; no country XX89370400440532013000", []),
        ("ssn", "SSN 123-45-6789 or 123 45 6789", ["123-45-6789", "123 45 6789"]),
        ("ssn", "never issued: 000-12-3456 666-12-3456 912-34-5678 123-00-4567; mixed 123-45 6789", []),
        ("ip", "from 192.168.0.1 and 2001:db8::1, also ::ffff:10.0.0.1", ["192.168.0.1", "2001:db8::1",
                                                                          "::ffff:10.0.0.1"]),
        ("ip", "at 10:30:00 on 1.2.3, version 999.1.1.1, 01.02.03.04", []),
        ("url", "see https://example.org/a?b=1). or www.example.com.", ["https://example.org/a?b=1",
                                                                       "www.example.com"]),
        ("url", "(http://x.org/wiki/Foo_(bar)) ftp://files.example.net/x", ["http://x.org/wiki/Foo_(bar)",
                                                                             "ftp://files.example.net/x"]),
        ("url", "a plain sentence. no links", []),
    ],
)
def test_recognizer(name, text, expected):
    assert found(name, text) == expected


def test_offsets_are_code_points_after_multibyte_text():
    text = "😀李 — 📞 +44 20 7946 0958 ✉ zoë@例え.jp"
    for name in ("phone", "email"):
        (value,) = found(name, text)
        assert value in ("+44 20 7946 0958", "zoë@例え.jp")


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert mod97_ok("GB82WEST12345698765432") and not mod97_ok("GB83WEST12345698765432")


def test_each_recognizer_can_be_switched_off():
    text = ("a@b.com, tel +1 415 555 0132, card 4111111111111111, GB82WEST12345698765432, 123-45-6789, 10.0.0.1, "
            "https://x.org")
    everything = {s.source for r in build_recognizers() for s in r.find(text)}
    assert everything == {f"pattern:{n}" for n in RECOGNIZERS}
    for off in RECOGNIZERS:
        sources = {s.source for r in build_recognizers([n for n in RECOGNIZERS if n != off]) for s in r.find(text)}
        assert f"pattern:{off}" not in sources
    assert build_recognizers([]) == []


def test_invalid_configuration_is_rejected():
    with pytest.raises(PolicyError, match="unknown recognizers"):
        build_recognizers(["email", "passport"])
    with pytest.raises(PolicyError):
        PhoneRecognizer(regions=("ZZ",))
    with pytest.raises(PolicyError):
        PhoneRecognizer(leniency="loose")


def test_phone_regions_and_leniency():
    german = "Tel. 030 901820"
    assert PhoneRecognizer(regions=("US",)).find(german) == []
    assert [german[s.start : s.end] for s in PhoneRecognizer(regions=("DE",)).find(german)] == ["030 901820"]


def test_a_card_right_after_other_digits_is_still_found():
    assert found("card", "call 415 555 0132 4111 1111 1111 1111 x") == ["4111 1111 1111 1111"]
