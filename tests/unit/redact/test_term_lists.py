"""Allow and deny lists: from settings and per request; allowed values do not propagate."""

from __future__ import annotations

import pytest

from pipeline.redact import Redactor, RedactSettings
from pipeline.redact.errors import PolicyError
from pipeline.redact.term_lists import TermLists
from pipeline.spans import Entity


class Names:
    def entities(self, texts):
        out = []
        for t in texts:
            out.append([Entity("GIVEN_NAME", i, i + 5, 0.9)
                        for i in range(len(t)) if t.startswith(("Maria", "Jonas"), i)])
        return out


def test_allow_drops_detections_and_their_propagation_deny_adds_spans():
    settings = RedactSettings(allow=["maria"], deny={"CODE_NAME": ["Project Kestrel", r"re:ZX-\d{4}"]})
    redactor = Redactor.from_settings(settings, Names())
    (result,) = redactor.redact(["Maria met Jonas about Project Kestrel (ZX-4471). Maria left."])
    assert result.text == "Maria met <GIVEN_NAME> about <CODE_NAME> (<CODE_NAME>). Maria left."
    assert {e.source for e in result.entities if e.label == "CODE_NAME"} == {"deny"}


def test_request_lists_add_to_the_configured_ones():
    redactor = Redactor.from_settings(RedactSettings(allow=["Maria"]), Names())
    (result,) = redactor.redact(["Maria and Jonas"], lists=TermLists.build(["Jonas"]))
    assert result.text == "Maria and Jonas"
    (plain,) = redactor.redact(["Maria and Jonas"])
    assert plain.text == "Maria and <GIVEN_NAME>"


@pytest.mark.parametrize(("allow", "deny", "field"), [
    (["re:(a+)+$"], None, "allow"),
    (["re:(x"], None, "allow"),
    ([""], None, "allow"),
    (None, {"lower": ["x"]}, "deny"),
    (None, {"CODE": [r"re:(\w+\s?)*!"]}, "deny.CODE"),
])
def test_bad_entries_are_refused_naming_the_field(allow, deny, field):
    with pytest.raises(PolicyError) as info:
        TermLists.build(allow, deny)
    assert info.value.field == field


def test_settings_refuse_a_bad_pattern_at_load():
    with pytest.raises(ValueError, match="allow"):
        RedactSettings(allow=["re:(a*)*"])
