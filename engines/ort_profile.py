"""What onnxruntime actually runs, and how fast its matrix kernels can go on this host.

Two measurements for ``bench engine --models`` (the int8 question is "which kernels ran, and
how close to the machine's int8 rate"):

- :func:`op_profile`: run a bundle's graph once with onnxruntime's session profiler and sum
  the time per operator type (``MatMulInteger``, ``DynamicQuantizeMatMul``, ``QLinearMatMul``,
  ``MatMulNBits``, ``MatMul``...), so a report says which kernels did the work;
- :func:`matmul_rate`: the kernel's own rate on the model's largest GEMM shape (``M`` tokens x
  hidden x intermediate) in float32 (``MatMul``) or int8 (``DynamicQuantizeMatMul``, the
  kernel the int8 bundle uses): the measured roofline the model's rate is compared with.
Needs ``onnx`` to write the one-node graphs.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def _session(path: str, threads: int | None, profile_dir: str | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    if profile_dir:
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(profile_dir) / "ort")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def op_profile(onnx_path: Path, feed: dict[str, np.ndarray], threads: int | None = None, runs: int = 3) -> dict:
    """Share of kernel time per operator type over ``runs`` runs of ``feed`` (after one warm-up)."""
    with tempfile.TemporaryDirectory() as tmp:
        session = _session(str(onnx_path), threads, tmp)
        names = {i.name for i in session.get_inputs()}
        feed = {k: v for k, v in feed.items() if k in names}
        for _ in range(runs + 1):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    per_op: dict[str, float] = defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
    total = sum(per_op.values()) or 1.0
    return {op: round(us / total, 4) for op, us in sorted(per_op.items(), key=lambda kv: -kv[1])}


def _gemm_graph(kind: str, m: int, k: int, n: int) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    a = helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])
    if kind == "fp32":
        inits = [numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "B")]
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        opsets = [helper.make_opsetid("", 17)]
    else:
        inits = [numpy_helper.from_array(rng.integers(-63, 64, (k, n), dtype=np.int8), "B"),
                 numpy_helper.from_array(np.full((n,), 0.01, np.float32), "S"),
                 numpy_helper.from_array(np.zeros((n,), np.int8), "Z")]
        node = helper.make_node("DynamicQuantizeMatMul", ["A", "B", "S", "Z"], ["Y"], domain="com.microsoft")
        opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    graph = helper.make_graph([node], "gemm", [a], [y], inits)
    return onnx.helper.make_model(graph, opset_imports=opsets).SerializeToString()


def matmul_rate(kind: str, m: int, k: int, n: int, threads: int | None = None, seconds: float = 1.0) -> float:
    """Operations per second (2*m*k*n per call) of onnxruntime's ``kind`` GEMM (``fp32``/``int8``)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gemm.onnx"
        path.write_bytes(_gemm_graph(kind, m, k, n))
        session = _session(str(path), threads)
        x = np.random.default_rng(1).standard_normal((m, k)).astype(np.float32)
        session.run(None, {"A": x})
        best = float("inf")
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            session.run(None, {"A": x})
            best = min(best, time.perf_counter() - started)
    return 2.0 * m * k * n / best


def weight_macs_per_token(config: dict) -> int:
    """Multiply-adds per token of a BERT encoder's weight matrices (attention scores excluded)."""
    h, i = int(config.get("hidden_size", 768)), int(config.get("intermediate_size", 3072))
    layers, labels = int(config.get("num_hidden_layers", 12)), len(config.get("id2label", {}))
    return layers * (4 * h * h + 2 * h * i) + h * labels
