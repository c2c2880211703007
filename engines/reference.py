"""A float32 Hugging Face checkpoint of the default model, for baselines and export tests.

The rampart wheel ships only a 4-bit ONNX graph. Baselines (transformers' pipeline), export
tests and fp16/fp32 engines (TensorRT) need ordinary weights, so this dequantizes them into a
``BertForTokenClassification`` checkpoint that transformers loads offline. Same algorithm as
the team's ``shared/tools/rampart_to_hf.py``; kept here so the product does not depend on a
file outside the repository. Needs the ``export`` extra (onnx, torch, transformers).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from engines.bundle import rampart_dir
from engines.errors import BundleError, EngineUnavailableError

DEFAULT_CACHE = Path.home() / ".cache" / "ner-stage" / "rampart-hf-fp32"


def _dequantize_nbits(node, init: dict, onnx) -> np.ndarray:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    k, n, block = attrs["K"], attrs["N"], attrs["block_size"]
    packed = init[node.input[1]]
    scales = init[node.input[2]].reshape(n, -1)
    blocks = packed.shape[1]
    low, high = (packed & 0x0F).astype(np.float32), (packed >> 4).astype(np.float32)
    q = np.stack([low, high], axis=-1).reshape(n, blocks, block)
    if len(node.input) > 3 and node.input[3]:
        zp = init[node.input[3]]
        zero = np.stack([zp & 0x0F, zp >> 4], -1).reshape(n, -1)[:, :blocks].astype(np.float32)
    else:
        zero = np.full((n, blocks), 8.0, np.float32)
    return ((q - zero[:, :, None]) * scales[:, :, None]).reshape(n, blocks * block)[:, :k]


def float32_checkpoint(out_dir: Path | None = None) -> Path:
    """Return a directory holding the fp32 checkpoint, building it on first use."""
    out = Path(out_dir) if out_dir else DEFAULT_CACHE
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    try:
        import onnx
        import torch
        from onnx import numpy_helper
        from transformers import BertConfig, BertForTokenClassification
    except ImportError as exc:
        raise EngineUnavailableError("building the fp32 reference needs pip install 'ner-stage[export]'") from exc
    src = rampart_dir()
    graph = onnx.load(str(src / "onnx" / "model_q4.onnx"))
    init = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}
    for node in graph.graph.node:
        if node.op_type == "Constant":
            init[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    state = {}
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        key = f"bert.embeddings.{name}.weight"
        q = init[key + "_quantized"].astype(np.float32)
        state[key] = (q - init[key + "_zero_point"].astype(np.float32)) * init[key + "_scale"]
    for key, value in init.items():
        if key.startswith(("bert.", "classifier.")) and not key.endswith(("_quantized", "_scale", "_zero_point")):
            state[key] = value.astype(np.float32)
    for node in graph.graph.node:
        if node.op_type == "MatMulNBits":
            path = node.output[0].strip("/").rsplit("/", 1)[0].replace("/", ".")
            state[path + ".weight"] = _dequantize_nbits(node, init, onnx)
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
