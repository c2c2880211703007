"""A float32 Hugging Face checkpoint of the default model, for baselines and export tests.

The rampart wheel ships only a 4-bit ONNX graph. Baselines (transformers' pipeline), export
tests and fp16/fp32 engines (TensorRT) need ordinary weights, so this dequantizes them into a
``BertForTokenClassification`` checkpoint that transformers loads offline. Same algorithm as
the team's ``shared/tools/rampart_to_hf.py``; kept here so the product does not depend on a
file outside the repository; the dequantization itself is ``engines/dequantize.py``'s, shared
with the int8 bundle. Needs the ``export`` extra (onnx, torch, transformers).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from engines.dequantize import EMBEDDINGS, embedding_table, initializers, nbits_weight
from engines.errors import BundleError, EngineUnavailableError
from engines.rampart import rampart_dir

DEFAULT_CACHE = Path.home() / ".cache" / "ner-stage" / "rampart-hf-fp32"


def float32_checkpoint(out_dir: Path | None = None) -> Path:
    """Return a directory holding the fp32 checkpoint, building it on first use."""
    out = Path(out_dir) if out_dir else DEFAULT_CACHE
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    try:
        import onnx
        import torch
        from transformers import BertConfig, BertForTokenClassification
    except ImportError as exc:
        raise EngineUnavailableError("building the fp32 reference needs pip install 'ner-stage[export]'") from exc
    src = rampart_dir()
    graph = onnx.load(str(src / "onnx" / "model_q4.onnx"))
    init = initializers(graph)
    state = {f"bert.embeddings.{name}.weight": embedding_table(init, name) for name in EMBEDDINGS}
    for key, value in init.items():
        if key.startswith(("bert.", "classifier.")) and not key.endswith(("_quantized", "_scale", "_zero_point")):
            state[key] = value.astype(np.float32)
    for node in graph.graph.node:
        if node.op_type == "MatMulNBits":
            path = node.output[0].strip("/").rsplit("/", 1)[0].replace("/", ".")
            state[path + ".weight"] = nbits_weight(node, init)
    model = BertForTokenClassification(BertConfig.from_pretrained(str(src)))
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise BundleError(f"{src}: weights did not line up (missing={missing}, unexpected={unexpected})")
    model.eval()
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "LICENSE"):
        if (src / name).exists():
            shutil.copy(src / name, tmp / name)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out
