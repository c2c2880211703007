"""Hugging Face token-classification checkpoint -> model bundle (ONNX + tokenizer + config).

Needs torch and transformers (the ``export`` extra); nothing else in the stage imports them.
The exported graph has dynamic batch and sequence axes and is verified against PyTorch on
sample texts within ``atol`` before the bundle is written. Optional steps, each reported with
its logit drift against the PyTorch model: onnxruntime graph optimisation (fused attention,
LayerNorm, GELU) and int8 dynamic quantisation of the MatMul weights.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engines.errors import BundleError, EngineUnavailableError

VERIFY_TEXTS = (
    "My name is John Smith and my email is john.smith@example.com",
    "Call +1 (415) 555-0132 or write to 221B Baker Street, London NW1 6XE.",
    "José Müller überwies 1.200 € an IBAN DE89 3704 0044 0532 0130 00.",
    "short",
    "東京で田中さんに会った 😀",
)


@dataclass
class ExportReport:
    """What export did and how far each variant's logits drifted from PyTorch."""

    onnx: str
    opset: int
    atol: float
    max_abs_diff_fp32: float
    steps: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _require():
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise EngineUnavailableError(
            "export needs torch and transformers: pip install 'ner-stage[export]'"
        ) from exc
    return torch, transformers


def _ort_logits(path: Path, feeds: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    return [session.run(None, {k: v for k, v in feed.items() if k in names})[0] for feed in feeds]


def _drift(reference: list[np.ndarray], other: list[np.ndarray]) -> dict:
    diffs = [float(np.max(np.abs(a - b))) for a, b in zip(reference, other, strict=True)]
    agree = np.mean([np.mean(a.argmax(-1) == b.argmax(-1)) for a, b in zip(reference, other, strict=True)])
    return {"max_abs_logit_diff": max(diffs), "argmax_agreement": float(agree)}


def export_checkpoint(
    hf_dir: str | Path,
    out_dir: str | Path,
    *,
    opset: int = 17,
    atol: float = 1e-3,
    optimize: bool = False,
    quantize: bool = False,
    name: str | None = None,
    progress: Callable[[str], None] = print,
) -> ExportReport:
    """Export ``hf_dir`` to a bundle in ``out_dir``; raise BundleError if verification fails."""
    torch, transformers = _require()
    started = time.perf_counter()
    src, out = Path(hf_dir), Path(out_dir)
    if not (src / "config.json").is_file():
        raise BundleError(f"{src / 'config.json'}: not a Hugging Face checkpoint directory")
    progress(f"[1/5] loading {src}")
    try:
        model = transformers.AutoModelForTokenClassification.from_pretrained(str(src), local_files_only=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(src), local_files_only=True, use_fast=True)
    except (OSError, ValueError) as exc:
        raise BundleError(f"{src}: cannot load a token-classification model and fast tokenizer: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise BundleError(f"{src}: needs a fast tokenizer (tokenizer.json)")
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    encoded = [tokenizer(t, return_tensors="np") for t in VERIFY_TEXTS]
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in encoded[0]]
    feeds = [{n: e[n].astype(np.int64) for n in input_names} for e in encoded]
    with torch.no_grad():
        reference = [model(**{k: torch.from_numpy(v) for k, v in f.items()}).logits.numpy() for f in feeds]

    progress(f"[2/5] exporting ONNX (opset {opset}, dynamic batch and sequence axes)")
    onnx_path = out / "model.onnx"
    dummy = tuple(torch.from_numpy(np.concatenate([feeds[0][n]] * 2)) for n in input_names)
    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in input_names}
    axes["logits"] = {0: "batch_size", 1: "sequence_length"}
    torch.onnx.export(model, dummy, str(onnx_path), input_names=input_names, output_names=["logits"],
                      dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False)
    progress("[3/5] verifying ONNX Runtime logits against PyTorch")
    fp32 = _drift(reference, _ort_logits(onnx_path, feeds))
    if fp32["max_abs_logit_diff"] > atol:
        raise BundleError(f"{onnx_path}: ONNX logits differ from PyTorch by {fp32['max_abs_logit_diff']:.2e} "
                          f"(> atol {atol}); try another --opset")
    report = ExportReport(onnx="model.onnx", opset=opset, atol=atol, max_abs_diff_fp32=fp32["max_abs_logit_diff"])
    chosen = onnx_path
    if optimize:
        progress("[4/5] optimising the graph with onnxruntime (fused attention/LayerNorm/GELU)")
        chosen = _optimize(onnx_path, out / "model_optimized.onnx", model.config)
        report.steps.append({"step": "optimize", "file": chosen.name, **_drift(reference, _ort_logits(chosen, feeds))})
    if quantize:
        progress("[4/5] int8 dynamic quantisation of MatMul weights")
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantized = out / "model_int8.onnx"
        from onnx import TensorProto

        # Fused contrib ops defeat shape inference; their outputs are float32.
        quantize_dynamic(str(chosen), str(quantized), weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": TensorProto.FLOAT})
        chosen = quantized
        report.steps.append({"step": "quantize_int8", "file": chosen.name,
                             **_drift(reference, _ort_logits(chosen, feeds))})
    progress("[5/5] writing tokenizer, config and bundle.json")
    tokenizer.save_pretrained(str(out))
    shutil.copy(src / "config.json", out / "config.json")
    for extra in ("LICENSE", "README.md"):
        if (src / extra).is_file():
            shutil.copy(src / extra, out / extra)
    report.onnx = chosen.name
    report.seconds = round(time.perf_counter() - started, 2)
    manifest = {"onnx": chosen.name, "name": name or src.name, "revision": "", "export": asdict(report)}
    (out / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return report


def _optimize(src: Path, dst: Path, config) -> Path:
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(src), model_type="bert", num_heads=int(config.num_attention_heads),
                               hidden_size=int(config.hidden_size), opt_level=1)
    optimized.save_model_to_file(str(dst))
    return dst
