"""Policy: labels -> operators; the default redacts every PII label of the default model."""

from __future__ import annotations

import pytest

from engines.bundle import load_bundle
from pipeline.redact.errors import PolicyError
from pipeline.redact.operators import Keep, Mask, OperatorDefaults, Replace
from pipeline.redact.policy import MODEL_LABELS, PII_LABELS, Policy, default_policy


def test_default_policy_redacts_every_label_of_the_default_model():
    labels = {label[2:] for label in load_bundle().labels if label != "O"}
    assert labels == set(MODEL_LABELS)
    policy = default_policy()
    for label in PII_LABELS:
        assert policy.operator_for(label).redacts, label
    # a label nobody listed is redacted too, not leaked
    assert policy.operator_for("SOMETHING_NEW").redacts


def test_labels_are_normalised():
    policy = Policy.from_spec({"b-email": "keep"})
    assert policy.operator_for("EMAIL") == Keep()
    assert policy.operator_for("I-EMAIL") == Keep()
    assert policy.operator_for(" email ") == Keep()


def test_overrides_and_default():
    base = default_policy()
    policy = base.with_overrides({"CITY": "keep", "PHONE": {"type": "mask", "keep_last": 4}})
    assert policy.operator_for("CITY") == Keep()
    assert policy.operator_for("PHONE") == Mask(keep_last=4)
    assert policy.operator_for("EMAIL") == Replace()
    assert policy.default == base.default
    masked = policy.with_overrides(None, default="mask")
    assert masked.operator_for("UNLISTED") == Mask()
    assert masked.operator_for("EMAIL") == Mask()  # the default policy lists no label: all follow the default
    assert masked.operator_for("CITY") == Keep()  # labels an override named keep their operator


def test_hash_in_a_policy_uses_the_settings_key():
    policy = Policy.from_spec({"EMAIL": "hash"}, defaults=OperatorDefaults(hash_key=b"k"))
    assert policy.operator_for("EMAIL").apply("a@b.co", "EMAIL").startswith("<EMAIL_")
    with pytest.raises(PolicyError):
        Policy.from_spec({"EMAIL": "hash"})


def test_bad_labels_are_rejected():
    with pytest.raises(PolicyError):
        Policy.from_spec({"": "keep"})
