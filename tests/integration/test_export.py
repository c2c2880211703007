"""``ner-stage export``: HF checkpoint -> bundle, verified against PyTorch, loadable by the engine."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from engines import create_engine, load_bundle
from engines.base import EngineBatch
from pipeline.service import NerService

torch = pytest.importorskip("torch", reason="export tests need the export extra (torch)")
transformers = pytest.importorskip("transformers", reason="export tests need the export extra (transformers)")

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A randomly initialised BERT token classifier with the default model's tokenizer."""
    from engines.rampart import rampart_dir

    out = tmp_path_factory.mktemp("tiny-hf")
    config = transformers.BertConfig(vocab_size=19730, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=128,
                                     id2label={0: "O", 1: "B-PER", 2: "I-PER"},
                                     label2id={"O": 0, "B-PER": 1, "I-PER": 2})
    torch.manual_seed(0)
    model = transformers.BertForTokenClassification(config).eval()
    model.save_pretrained(out)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(rampart_dir()))
    tokenizer.save_pretrained(out)
    return out, model


def test_tiny_model_exports_with_dynamic_axes(tiny_checkpoint, tmp_path):
    src, model = tiny_checkpoint
    out = tmp_path / "bundle"
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli.main", "export", str(src), str(out), "--quantize-int8"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "[2/5]" in proc.stderr  # progress is shown
    report = json.loads(proc.stdout)
    assert report["max_abs_diff_fp32"] <= 1e-3
    assert report["steps"][0]["step"] == "quantize_int8" and "max_abs_logit_diff" in report["steps"][0]
    bundle = load_bundle(out)
    assert bundle.labels == ("O", "B-PER", "I-PER") and bundle.onnx_path.name == "model_int8.onnx"
    # the fp32 graph accepts any batch and sequence length and matches PyTorch
    object.__setattr__(bundle, "onnx_path", out / "model.onnx")
    engine = create_engine("onnxruntime", bundle)
    for batch, seq in ((1, 5), (3, 17), (2, 64)):
        ids = np.random.default_rng(batch).integers(5, 19000, size=(batch, seq), dtype=np.int64)
        mask = np.ones_like(ids)
        got = engine.run(EngineBatch(ids, mask, np.zeros_like(ids)))
        with torch.no_grad():
            want = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_default_model_rebuilt_in_fp32_exports_and_agrees(tmp_path, rampart_service):
    from engines.export import export_checkpoint
    from engines.reference import float32_checkpoint

    hf = float32_checkpoint(tmp_path / "hf")
    report = export_checkpoint(hf, tmp_path / "bundle", optimize=True, progress=lambda _m: None)
    assert report.max_abs_diff_fp32 < 1e-3
    assert report.steps[0]["argmax_agreement"] == 1.0
    bundle = load_bundle(tmp_path / "bundle")
    fp32 = NerService(bundle, create_engine("onnxruntime", bundle))
    texts = ["My name is John Smith and my email is john.smith@example.com",
             "Call +1 (415) 555-0132 or write to 221B Baker Street, London NW1 6XE."]
    as_tuples = lambda out: [[(e.label, e.start, e.end) for e in d] for d in out]  # noqa: E731
    assert as_tuples(fp32.entities(texts)) == as_tuples(rampart_service.entities(texts))


def test_export_refuses_a_non_checkpoint(tmp_path):
    from engines.errors import BundleError
    from engines.export import export_checkpoint

    with pytest.raises(BundleError, match=r"config\.json"):
        export_checkpoint(tmp_path, tmp_path / "out", progress=lambda _m: None)
