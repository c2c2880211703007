import json

import pytest

from pipeline.errors import InputError
from pipeline.eval import read_gold, score


def test_exact_span_and_type_matching_with_mapping():
    gold = [frozenset({(0, 4, "PER"), (10, 20, "EMAIL")}), frozenset({(3, 8, "PER")})]
    pred = [[(0, 4, "GIVEN_NAME"), (10, 19, "EMAIL")], [(3, 8, "SURNAME"), (9, 12, "CITY")]]
    report = score(gold, pred, {"GIVEN_NAME": "PER", "SURNAME": "PER", "CITY": None})
    assert report["per_label"]["PER"]["tp"] == 2
    assert report["per_label"]["EMAIL"] == pytest.approx(
        {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "tp": 0, "fp": 1, "fn": 1})
    micro = report["micro"]
    assert (micro["tp"], micro["fp"], micro["fn"]) == (2, 1, 1)
    assert micro["f1"] == pytest.approx(2 / 3)


def test_bad_gold_line_names_the_line(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps({"text": "a", "spans": []}) + "\n" + json.dumps({"spans": []}) + "\n")
    with pytest.raises(InputError, match=r"gold\.jsonl:2"):
        read_gold(path)
