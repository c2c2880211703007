"""Regenerate tests/golden/aggregation/*.json: transformers' pipeline post-processing on our logits.

For each text, the default model's logits (ONNX Runtime, our tokenization) are fed to
``TokenClassificationPipeline.postprocess`` of transformers for every aggregation strategy;
the expected entities are stored next to the logits (float32, base64) so the test can run our
decoder on the very same numbers without torch or transformers installed.

Needs the export extra (torch, transformers) and a float32 HF checkpoint of the default model
(only its tokenizer and config are used):
    python ../shared/tools/rampart_to_hf.py /tmp/rampart-hf
    python scripts/make_golden.py /tmp/rampart-hf
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

from pipeline.config import ModelSettings
from pipeline.service import AGGREGATIONS, NerService

OUT = Path(__file__).resolve().parent.parent / "tests" / "golden" / "aggregation"
TEXTS = {
    "name_email": "My name is John Smith and my email is john.smith@example.com",
    "phone_url_address": "Call me at +1 (415) 555-0132 or visit https://example.org/a?b=c. "
                         "I live at 221B Baker Street, London NW1 6XE.",
    "accents": "José Müller and Zoë Saldaña met François in Zürich.",
    "emoji": "😀 Hi, I'm Bob 👍🏽 Jones, reach me at bob@jones.io 🎉",
    "cjk_mixed": "東京の田中さん (Tanaka) called María from 北京 at 555-0199.",
    "whitespace": "  \tAlice\n\nCooper\r\n  lives at 12   Main St.  ",
    "subwords": "Xanthippe Wolfeschlegelsteinhausenbergerdorff paid with 4111111111111111 from DE89370400440532013000.",
    "ids": "SSN 123-45-6789, passport X12345678, driver's license D1234567, routing 021000021.",
    "unk": "Unknown glyphs ⟁⟟ around Anna ⌬ Karenina.",
    "adjacent": "Contact: JaneDoe jane.doe@mail.com,+44 20 7946 0958;Peter Parker",
    "empty": "",
    "spaces": "   ",
}


def main() -> None:
    hf_dir = sys.argv[1]
    tokenizer = AutoTokenizer.from_pretrained(hf_dir, use_fast=True)
    model = AutoModelForTokenClassification.from_pretrained(hf_dir)
    pipe = pipeline("token-classification", model=model, tokenizer=tokenizer)
    service = NerService.from_settings(ModelSettings.load(threads=1))
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in TEXTS.items():
        (doc,) = service.encode([text])
        (logits,) = service.infer([doc])
        (model_inputs,) = list(pipe.preprocess(text, **pipe._preprocess_params))
        ours = np.concatenate([service.encoder.prefix, doc.ids, service.encoder.suffix])
        theirs = model_inputs["input_ids"][0].numpy()
        assert np.array_equal(ours, theirs), f"{name}: tokenization differs from transformers"
        full = np.zeros((len(theirs), logits.shape[1]), dtype=np.float32)
        full[len(service.encoder.prefix) : len(service.encoder.prefix) + doc.n_tokens] = logits
        outputs = {
            "logits": torch.from_numpy(full)[None],
            "special_tokens_mask": model_inputs["special_tokens_mask"],
            "offset_mapping": model_inputs["offset_mapping"],
            "sentence": text,
            "is_last": True,
            "input_ids": model_inputs["input_ids"],
        }
        expected = {}
        for strategy in AGGREGATIONS:
            entities = pipe.postprocess([outputs], aggregation_strategy=_strategy(strategy))
            expected[strategy] = [
                {"label": e.get("entity_group", e.get("entity")), "score": float(e["score"]),
                 "start": int(e["start"]), "end": int(e["end"])}
                for e in entities
            ]
        record = {
            "text": text,
            "ids": doc.ids.tolist(),
            "logits_f32_b64": base64.b64encode(logits.astype("<f4").tobytes()).decode(),
            "shape": list(logits.shape),
            "expected": expected,
            "transformers": __import__("transformers").__version__,
        }
        (OUT / f"{name}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {name}: " + ", ".join(f"{s}={len(v)}" for s, v in expected.items()))


def _strategy(name: str):
    from transformers.pipelines.token_classification import AggregationStrategy

    return AggregationStrategy[name.upper()]


if __name__ == "__main__":
    main()
