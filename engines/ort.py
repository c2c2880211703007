"""ONNX Runtime engine: the CPU default that runs everywhere.

GPU execution providers (TensorRT, CUDA) are used automatically when the installed
onnxruntime build offers them; on a CPU-only wheel this is the plain CPU provider. The
session only receives the inputs the graph declares, so DistilBERT-style graphs without
``token_type_ids`` work unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engines.base import EngineBatch, EngineSettings
from engines.bundle import ModelBundle
from engines.errors import BundleError, EngineError, EngineUnavailableError

_PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


class OnnxRuntimeEngine:
    """Runs a bundle's ONNX graph with onnxruntime."""

    name = "onnxruntime"

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        threads: int | None = None,
        inter_op_threads: int = 1,
        providers: list[str] | None = None,
        max_batch_tokens: int = 4096,
        max_seq_len: int | None = None,
        spin: bool = True,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - onnxruntime is a core dependency
            raise EngineUnavailableError("onnxruntime is not installed: pip install onnxruntime") from exc
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = inter_op_threads
        # Idle intra-op threads spin before sleeping: lowest latency for back-to-back runs, but on
        # a small box the spinning steals the core an HTTP event loop or Kafka client needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.log_severity_level = 3
        available = ort.get_available_providers()
        chosen = providers or [p for p in _PREFERRED_PROVIDERS if p in available]
        try:
            self._session = ort.InferenceSession(str(bundle.onnx_path), options, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise BundleError(
                f"{bundle.onnx_path}: onnxruntime cannot load this model ({exc}); "
                "re-export it with `ner-stage export`"
            ) from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._inputs
        if missing:
            raise BundleError(
                f"{bundle.onnx_path}: graph lacks inputs {sorted(missing)}; "
                "export a token-classification model with `ner-stage export`"
            )
        output = self._session.get_outputs()[0]
        width = output.shape[-1] if output.shape else None
        if isinstance(width, int) and width != bundle.num_labels:
            raise BundleError(
                f"{bundle.onnx_path}: the graph outputs {width} labels but config.json id2label has "
                f"{bundle.num_labels}; export the ONNX and config.json from the same checkpoint"
            )
        self._output = output.name
        self.providers = self._session.get_providers()
        self.num_labels = bundle.num_labels
        self.max_batch_tokens = max_batch_tokens
        self.max_seq_len = min(max_seq_len or bundle.max_position_embeddings, bundle.max_position_embeddings)

    @classmethod
    def from_settings(cls, bundle: ModelBundle, settings: EngineSettings, **runtime: Any) -> OnnxRuntimeEngine:
        """Threads, spin and limits from the model settings; ``runtime``: e.g. ``providers``."""
        return cls(bundle, threads=settings.threads, spin=settings.spin, max_batch_tokens=settings.engine_batch_tokens,
                   max_seq_len=settings.max_seq_len, **runtime)

    def run(self, batch: EngineBatch) -> np.ndarray:
        feed = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = batch.token_type_ids
        try:
            (logits,) = self._session.run([self._output], feed)
        except Exception as exc:
            raise EngineError(f"onnxruntime failed on a batch of shape {batch.shape}: {exc}") from exc
        if logits.shape[-1] != self.num_labels:
            raise EngineError(f"engine returned {logits.shape[-1]} labels, expected {self.num_labels}")
        return np.asarray(logits, dtype=np.float32)

    def warmup(self) -> None:
        for batch, seq in ((1, 16), (1, 64), (8, 32)):
            ids = np.full((batch, seq), 100, dtype=np.int64)
            self.run(EngineBatch(ids, np.ones_like(ids), np.zeros_like(ids)))

    def health(self) -> bool:
        ids = np.array([[101, 102]], dtype=np.int64)
        try:
            return self.run(EngineBatch(ids, np.ones_like(ids), np.zeros_like(ids))).shape == (1, 2, self.num_labels)
        except EngineError:
            return False

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]
