import numpy as np
import pytest

from engines.bundle import load_bundle
from pipeline.errors import InputError, TextTooLongError
from pipeline.service import NerService, PredictOptions
from tests.fakes import FakeEngine


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


def make(bundle, **kw):
    engine_kw = {k: kw.pop(k) for k in list(kw) if k in ("max_seq_len", "max_batch_tokens", "position_weight")}
    return NerService(bundle, FakeEngine(bundle.num_labels, **engine_kw), **kw)


def test_windowed_logits_equal_single_pass_for_context_free_engine(bundle):
    text = " ".join(f"token{i} Alice" for i in range(300))
    small = make(bundle, max_seq_len=64, stride=16)
    big = make(bundle, max_seq_len=4096)
    (doc_small,) = small.encode([text])
    assert len(doc_small.windows) > 5
    (a,) = small.infer([doc_small])
    (b,) = big.infer(big.encode([text]))
    np.testing.assert_allclose(a, b)


def test_each_token_reads_the_window_where_it_has_most_context(bundle):
    service = make(bundle, max_seq_len=34, stride=8, position_weight=1000.0)
    text = " ".join(["a"] * 100)
    (doc,) = service.encode([text])
    (logits,) = service.infer([doc])
    head = len(service.encoder.prefix)
    # label 0 carries position-in-sequence * 1000: recover it and compare with the plan
    base = FakeEngine(bundle.num_labels).run
    ids = np.array([[int(doc.ids[0])]])
    from engines.base import EngineBatch
    context_free = base(EngineBatch(ids, np.ones_like(ids), np.zeros_like(ids)))[0, 0, 0]
    positions = np.round((logits[:, 0] - context_free) / 1000.0).astype(int)
    assert np.array_equal(positions, doc.position + head)


def test_batches_respect_token_budget_and_sort_by_length(bundle):
    service = make(bundle, max_batch_tokens=256, max_batch_size=8)
    texts = ["word " * n for n in (3, 50, 7, 120, 1, 60, 2, 5, 9, 11)]
    service.predict(texts)
    assert all(rows * width <= max(256, width) for rows, width in service.engine.calls)
    assert all(rows <= 8 for rows, _ in service.engine.calls)
    widths = [w for _, w in service.engine.calls]
    assert widths == sorted(widths, reverse=True)


def test_results_are_in_input_order(bundle):
    service = make(bundle)
    texts = ["short", "a much longer text with many more words in it", "mid size text"]
    out = service.predict(texts, PredictOptions(aggregation="none"))
    assert [" ".join(i["token"] for i in items) for items in out] == [
        "short", "a much longer text with many more words in it", "mid size text"]


def test_empty_and_whitespace_give_empty_results_without_engine_call(bundle):
    service = make(bundle)
    assert service.predict(["", "   \n\t"]) == [[], []]
    assert service.engine.calls == []


def test_too_long_text_is_a_typed_error_naming_the_input(bundle):
    service = make(bundle, max_chars=10)
    with pytest.raises(TextTooLongError) as info:
        service.predict(["ok", "x" * 11])
    assert info.value.field == "inputs[1]"


def test_invalid_options_name_the_field():
    with pytest.raises(InputError) as info:
        PredictOptions(aggregation="mean")
    assert info.value.field == "aggregation_strategy"


def test_none_items_have_full_distribution_and_raw_scores(bundle):
    service = make(bundle)
    (items,) = service.predict(["hello world"], PredictOptions(aggregation="none"))
    assert len(items[0]["results"]) == bundle.num_labels
    assert abs(sum(items[0]["results"].values()) - 1) < 1e-5
    (raw,) = service.predict(["hello world"], PredictOptions(aggregation="none", raw_scores=True))
    assert abs(sum(raw[0]["results"].values()) - 1) > 1e-3


def test_entity_spans_read_aggregation_none_as_first(bundle):
    """Spans need aggregation: ``none`` (``--aggregation none``, or a caller's options) means ``first``."""
    service = make(bundle)
    texts = ["Alice Smith wrote to bob@example.com from Berlin on 2024-01-02", "Zoë 555-0100 token42"]
    first = service.entities(texts, PredictOptions(aggregation="first", ignore_labels=()))
    assert any(first)
    assert service.entities(texts, PredictOptions(aggregation="none", ignore_labels=())) == first
