"""The TensorRT engine on a real CUDA GPU, against ONNX Runtime on the same float32 bundle.

Skipped, with the reason, unless TensorRT 10, cuda-python and a CUDA GPU are present, and
unless the export extra (torch, transformers) can build the float32 bundle of the default
model: its shipped 4-bit graph uses a contrib operator TensorRT cannot parse.

What must hold: FP16 logits within 1e-2 of ONNX Runtime on the golden texts and identical
entities with 'max' aggregation; every optimisation profile (and oversized batches split
across one) gives the same answers; a second start loads the cached plan instead of building;
a changed or foreign key rebuilds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engines import BundleError, EngineError, EngineUnavailableError, create_engine, load_bundle
from engines.base import EngineBatch
from engines.ort import OnnxRuntimeEngine


def _runtime_missing() -> str | None:
    from engines.trt_build import require_runtime

    try:
        require_runtime()
    except EngineUnavailableError as exc:
        return str(exc)
    return None


MISSING = _runtime_missing()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(MISSING is not None, reason=f"needs TensorRT 10, cuda-python and a CUDA GPU: {MISSING}"),
]

FP16_ATOL = 1e-2
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "aggregation"
#: Small limits keep plan builds short; they still give four profiles (latency + 3 buckets).
LIMITS = {"max_batch_tokens": 1024, "max_seq_len": 256}
EXTRA_TEXTS = (
    "My name is John Smith and my email is john.smith@example.com",
    "Call +1 (415) 555-0132 or write to 221B Baker Street, London NW1 6XE.",
    "José Müller überwies 1.200 € an IBAN DE89 3704 0044 0532 0130 00.",
    # longer than max_seq_len: windowed, so several widths and a multi-window merge
    " ".join(f"Patient {i}: Maria Garcia, born 1984-03-{i % 28 + 1:02d}, phone 555-01{i:02d}." for i in range(40)),
)


def golden_texts() -> list[str]:
    texts = [json.loads(p.read_text(encoding="utf-8")).get("text") for p in sorted(GOLDEN.glob("*.json"))]
    return [t for t in texts if isinstance(t, str)] + list(EXTRA_TEXTS)


@pytest.fixture(scope="session")
def fp32_bundle(tmp_path_factory):
    """The default model as a plain float32 ONNX bundle, made through `ner-stage export`."""
    pytest.importorskip("torch", reason="building the fp32 bundle needs the export extra (torch)")
    pytest.importorskip("transformers", reason="building the fp32 bundle needs the export extra (transformers)")
    export = pytest.importorskip("engines.export", reason="engines.export (ner-stage export) is not available")
    reference = pytest.importorskip("engines.reference", reason="engines.reference (fp32 weights) is not available")
    root = tmp_path_factory.mktemp("rampart-fp32")
    checkpoint = reference.float32_checkpoint(root / "hf")
    export.export_checkpoint(checkpoint, root / "bundle", name="rampart-fp32", progress=lambda _: None)
    return load_bundle(root / "bundle")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("trt-cache")


@pytest.fixture(scope="session")
def trt_engine(fp32_bundle, cache_dir):
    engine = create_engine("tensorrt", fp32_bundle, cache_dir=cache_dir, **LIMITS)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def ort_engine(fp32_bundle):
    return OnnxRuntimeEngine(fp32_bundle, providers=["CPUExecutionProvider"], **LIMITS)


def services(bundle, trt_engine, ort_engine):
    from pipeline.service import NerService

    return NerService(bundle, trt_engine), NerService(bundle, ort_engine)


def test_fp16_logits_match_onnxruntime_on_the_golden_texts(fp32_bundle, trt_engine, ort_engine):
    assert trt_engine.plan_source in ("built", "cache") and trt_engine.precision == "fp16"
    trt_service, ort_service = services(fp32_bundle, trt_engine, ort_engine)
    docs = ort_service.encode(golden_texts())
    assert any(len(d.windows) > 1 for d in docs)  # the long text crosses windows
    worst = 0.0
    for got, want in zip(trt_service.infer(docs), ort_service.infer(docs), strict=True):
        assert got.dtype == np.float32 and got.shape == want.shape
        if got.size:
            worst = max(worst, float(np.abs(got - want).max()))
    assert worst <= FP16_ATOL, f"max |TensorRT fp16 - ONNX Runtime| logit difference {worst:.4f}"


def test_entities_with_max_aggregation_are_identical(fp32_bundle, trt_engine, ort_engine):
    from pipeline.service import PredictOptions

    trt_service, ort_service = services(fp32_bundle, trt_engine, ort_engine)
    options = PredictOptions(aggregation="max")
    got = trt_service.entities(golden_texts(), options)
    want = ort_service.entities(golden_texts(), options)
    assert sum(len(e) for e in want) > 0
    assert [[(e.label, e.start, e.end) for e in doc] for doc in got] == \
           [[(e.label, e.start, e.end) for e in doc] for doc in want]
    for doc_got, doc_want in zip(got, want, strict=True):
        assert [e.score for e in doc_got] == pytest.approx([e.score for e in doc_want], abs=FP16_ATOL)


def _real_batch(bundle, rows: int, width: int, seed: int) -> EngineBatch:
    """Rows of real token ids (CLS ... SEP, ragged lengths, right-padded) at exactly [rows, width]."""
    from pipeline.tokenize import TextEncoder

    encoder = TextEncoder(bundle.tokenizer_path, 512)
    (doc,) = encoder.encode([" ".join(golden_texts())], truncate=True, direction="Right", stride=0)
    ids = np.asarray(encoder.sequence(doc, 0), dtype=np.int64)
    rng = np.random.default_rng(seed)
    sequences = []
    for row in range(rows):
        length = width if row == 0 else int(rng.integers(min(2, width), width + 1))
        start = int(rng.integers(0, max(1, len(ids) - width)))
        seq = ids[start : start + length].copy()
        seq[0], seq[-1] = ids[0], ids[-1]  # keep the special tokens at the ends
        sequences.append(seq)
    return EngineBatch.from_sequences(sequences, encoder.pad_id)


def test_every_profile_and_split_batches_agree_with_onnxruntime(fp32_bundle, trt_engine, ort_engine):
    shapes = {shape for p in trt_engine.profiles.profiles for shape in (p.min, p.opt, p.max)}
    widest = trt_engine.profiles.profiles[-1]
    shapes.add((widest.max[0] * 2 + 1, widest.max[1]))  # more rows than any box: split by rows
    used = set()
    for seed, (rows, width) in enumerate(sorted(shapes)):
        batch = _real_batch(fp32_bundle, rows, width, seed)
        used.update(index for index, _, _ in trt_engine.profiles.route(rows, width))
        got, want = trt_engine.run(batch), ort_engine.run(batch)
        assert got.shape == (rows, width, fp32_bundle.num_labels)
        real = batch.attention_mask.astype(bool)
        assert float(np.abs(got[real] - want[real]).max()) <= FP16_ATOL, (rows, width)
    assert used == set(range(len(trt_engine.profiles.profiles)))


def test_a_thread_other_than_the_constructing_one_runs_batches_on_the_engine_s_device(fp32_bundle, trt_engine):
    """The HTTP batcher calls the engine from its own thread: the device must be current there too."""
    import threading

    batch = _real_batch(fp32_bundle, 4, 64, seed=7)
    here = trt_engine.run(batch)
    there: dict = {}
    thread = threading.Thread(target=lambda: there.setdefault("logits", trt_engine.run(batch)), name="ner-engine")
    thread.start()
    thread.join(60)
    np.testing.assert_array_equal(there["logits"], here)


def test_health_warmup_and_close(fp32_bundle, cache_dir):
    engine = create_engine("tensorrt", fp32_bundle, cache_dir=cache_dir, **LIMITS)
    assert engine.health()
    engine.warmup()
    engine.close()
    engine.close()
    with pytest.raises(EngineError):
        engine.run(_real_batch(fp32_bundle, 1, 8, 0))


def test_a_second_start_loads_the_cached_plan_without_building(fp32_bundle, cache_dir, trt_engine):
    before = trt_engine.plan_path.stat().st_mtime_ns
    again = create_engine("tensorrt", fp32_bundle, cache_dir=cache_dir, **LIMITS)
    try:
        assert again.plan_source == "cache"
        assert again.plan_path == trt_engine.plan_path and again.plan_path.stat().st_mtime_ns == before
        batch = _real_batch(fp32_bundle, 3, 40, 1)
        np.testing.assert_allclose(again.run(batch), trt_engine.run(batch), atol=1e-5)
    finally:
        again.close()


def test_changed_limits_build_a_new_plan_beside_the_old_one(fp32_bundle, cache_dir, trt_engine):
    other = create_engine("tensorrt", fp32_bundle, cache_dir=cache_dir, max_batch_tokens=256, max_seq_len=64)
    try:
        assert other.plan_source == "built" and other.plan_path != trt_engine.plan_path
        assert trt_engine.plan_path.is_file()
    finally:
        other.close()


def test_a_foreign_sidecar_is_rebuilt_never_loaded(fp32_bundle, tmp_path):
    limits = {"max_batch_tokens": 256, "max_seq_len": 64}
    first = create_engine("tensorrt", fp32_bundle, cache_dir=tmp_path, **limits)
    first.close()
    sidecar = first.plan_path.with_name(first.plan_path.name + ".json")
    data = json.loads(sidecar.read_text())
    data["key"]["tensorrt"] = "10.0.0.0"  # as if copied from a host with another TensorRT
    sidecar.write_text(json.dumps(data))
    second = create_engine("tensorrt", fp32_bundle, cache_dir=tmp_path, **limits)
    try:
        assert second.plan_source == "built" and second.plan_path == first.plan_path
        assert json.loads(sidecar.read_text())["key"] == second.plan_key
    finally:
        second.close()


def test_the_shipped_4bit_bundle_is_refused_with_the_fix():
    with pytest.raises(BundleError, match="MatMulNBits") as info:
        create_engine("tensorrt", load_bundle("rampart"))
    assert "ner-stage export" in str(info.value)
