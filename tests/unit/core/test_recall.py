"""Recall-oriented decoding: words below argmax join an entity when its B-+I- mass reaches the
label's (or group's) threshold; /predict_tokens semantics stay HF's."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from engines.bundle import load_bundle
from pipeline.recall import DEFAULT_RECALL_THRESHOLDS, RECALL_SOURCE
from pipeline.service import NerService, PredictOptions
from tests.fakes import FakeEngine

TEXT = "The founders: Bašić, Smith and smith met at 415 Oak Street. She left. IBAN follows."


@pytest.fixture(scope="module")
def service():
    bundle = load_bundle()
    return NerService(bundle, FakeEngine(bundle.num_labels))


def logits_with(service, doc, masses: dict[str, dict[str, float]]) -> np.ndarray:
    """``O`` wins every token; the tokens of each word get ``{label: probability}``."""
    labels = list(service.labels)
    logits = np.full((doc.n_tokens, len(labels)), -20.0, dtype=np.float32)
    logits[:, labels.index("O")] = 20.0
    for word, probs in masses.items():
        start = TEXT.index(word)
        for i in range(doc.n_tokens):
            s, e = doc.offsets[i]
            if start <= s and e <= start + len(word):
                for label, p in probs.items():
                    logits[i, labels.index(label)] = 20.0 + math.log(p / (1 - sum(probs.values())))
    return logits


def entities(service, logits, doc, thresholds):
    options = replace(service.entity_options, recall_thresholds=thresholds)
    return [(TEXT[e.start : e.end], e.label, e.source, round(e.score, 3))
            for e in service.doc_entities(doc, logits, options)]


def test_words_below_argmax_join_an_entity_at_the_group_threshold(service):
    (doc,) = service.encode([TEXT])
    logits = logits_with(service, doc, {"Bašić": {"B-SURNAME": 0.03, "B-GIVEN_NAME": 0.02},
                                        "Smith": {"B-GIVEN_NAME": 0.2}})
    assert entities(service, logits, doc, {}) == []  # argmax: all O
    got = entities(service, logits, doc, {"NAME": 0.04})
    # the whole word (every sub-word of Bašić), the group's most probable label, the group's mass
    assert got == [("Bašić", "SURNAME", RECALL_SOURCE, 0.05), ("Smith", "GIVEN_NAME", RECALL_SOURCE, 0.2)]
    assert entities(service, logits, doc, {"NAME": 0.1}) == [("Smith", "GIVEN_NAME", RECALL_SOURCE, 0.2)]
    # a bare label's threshold counts only that label's mass
    assert entities(service, logits, doc, {"SURNAME": 0.025}) == [("Bašić", "SURNAME", RECALL_SOURCE, 0.03)]


def test_names_below_argmax_must_be_capitalised_and_not_function_words_or_acronyms(service):
    (doc,) = service.encode([TEXT])
    logits = logits_with(service, doc, {"smith": {"B-SURNAME": 0.3}, "She": {"B-GIVEN_NAME": 0.3},
                                        "IBAN": {"B-GIVEN_NAME": 0.3}, "Oak": {"B-STREET_NAME": 0.3}})
    got = entities(service, logits, doc, {"NAME": 0.05, "ADDRESS": 0.05})
    assert got == [("Oak", "STREET_NAME", RECALL_SOURCE, 0.3)]


def test_argmax_entities_are_kept_and_not_duplicated(service):
    (doc,) = service.encode([TEXT])
    logits = logits_with(service, doc, {"Smith": {"B-GIVEN_NAME": 0.9}, "Bašić": {"B-SURNAME": 0.1}})
    got = entities(service, logits, doc, {"NAME": 0.05})
    assert [(w, src) for w, _, src, _ in got] == [("Bašić", RECALL_SOURCE), ("Smith", "model")]


def test_predict_tokens_never_uses_recall_thresholds(service):
    (doc,) = service.encode([TEXT])
    logits = logits_with(service, doc, {"Smith": {"B-GIVEN_NAME": 0.2}})
    for aggregation in ("simple", "first", "max"):  # argmax says O everywhere: no spans on /predict_tokens
        assert service.items(doc, logits, PredictOptions(aggregation=aggregation)) == []
    assert PredictOptions().recall_thresholds == {}
    assert service.entity_options.recall_thresholds == DEFAULT_RECALL_THRESHOLDS
