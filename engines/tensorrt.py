"""TensorRT engine for NVIDIA GPUs (TensorRT 10 + NVIDIA cuda-python), behind the Engine protocol.

Imported only when ``--engine tensorrt`` is chosen (``engines.create_engine``), so the CPU
image never loads TensorRT. Start-up either loads the cached plan for this bundle, GPU,
TensorRT version, precision and profile plan, or builds and caches it (``engines.trt_build``);
a missing library or GPU fails here with one message naming what is missing.

Running a batch (no allocation on the hot path):

* One execution context per optimisation profile, each created with the
  ``ON_PROFILE_CHANGE`` allocation strategy so it holds activation memory for its own profile
  only; a batch goes to the first profile whose box covers its shape (``ProfilePlan.route``).
* One set of device I/O buffers (``cudaMalloc``) sized for the largest profile and shared by
  all contexts: calls are serialized by a lock, so they never overlap. Tensor addresses are set
  once per context.
* Host staging buffers are page-aligned numpy arrays pinned with ``cudaHostRegister``, so
  copies are true async DMA and numpy writes straight into pinned memory (no ctypes casts).
* Per call: copy ids into the pinned inputs, ``cudaMemcpyAsync`` H2D, ``set_input_shape``,
  ``execute_async_v3`` on our non-blocking stream, ``cudaMemcpyAsync`` D2H, one
  ``cudaStreamSynchronize``; logits come back as float32 ``[rows, width, labels]``.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from engines.base import EngineBatch, EngineSettings
from engines.bundle import ModelBundle
from engines.errors import EngineError
from engines.trt_build import KNOWN_INPUTS, cuda_check, prepare_plan, require_runtime, trt_logger

log = structlog.get_logger(__name__)
_PAGE = 4096


def _pinned(cudart: Any, shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """A page-aligned array registered as pinned memory; returns ``(view, owner)``."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    owner = np.empty(nbytes + _PAGE, dtype=np.uint8)
    offset = -owner.__array_interface__["data"][0] % _PAGE
    view = owner[offset : offset + nbytes].view(dtype).reshape(shape)
    cuda_check(cudart, cudart.cudaHostRegister(view.__array_interface__["data"][0], nbytes,
                                               cudart.cudaHostRegisterDefault), "cudaHostRegister")
    return view, owner


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


class ThreadDevice:
    """Makes the engine's CUDA device current on every thread that calls it.

    ``cudaSetDevice`` is per host thread: a plan built on the constructing thread with
    ``--device 1`` would otherwise run on device 0 from the batcher's engine thread. ``use``
    sets it once per thread (a thread-local flag), so the hot path costs one attribute read."""

    def __init__(self, cudart: Any, device: int) -> None:
        self.cudart = cudart
        self.device = device
        self._local = threading.local()

    def use(self) -> None:
        if not getattr(self._local, "ready", False):
            cuda_check(self.cudart, self.cudart.cudaSetDevice(self.device), f"cudaSetDevice({self.device})")
            self._local.ready = True


class TensorRTEngine:
    """Runs a bundle's ONNX graph as a TensorRT plan on one CUDA GPU."""

    name = "tensorrt"

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        precision: str = "fp16",
        max_batch_tokens: int = 4096,
        max_seq_len: int | None = None,
        max_batch_size: int = 64,
        cache_dir: str | Path | None = None,
        device: int = 0,
        force_build: bool = False,
        progress: Any = None,
    ) -> None:
        self._lock = threading.Lock()
        self._closed = True
        self._stream: Any = None
        self._device_buffers: list[int] = []
        self._host: dict[str, np.ndarray] = {}
        self._host_owners: list[np.ndarray] = []
        self._contexts: list[Any] = []
        trt, cudart = require_runtime()
        self._trt, self._cudart = trt, cudart
        self.device = device
        self._thread_device = ThreadDevice(cudart, device)
        self._thread_device.use()
        options = {
            "precision": precision, "max_batch_tokens": max_batch_tokens, "max_seq_len": max_seq_len,
            "max_batch_size": max_batch_size, "cache_dir": cache_dir, "device": device,
            "progress": progress or (lambda message: log.info("tensorrt_build_progress", message=message)),
        }
        prepared = prepare_plan(trt, cudart, bundle, force=force_build, **options)
        self.runtime = trt.Runtime(trt_logger(trt))
        self.engine = self.runtime.deserialize_cuda_engine(prepared.data)
        if self.engine is None and not prepared.built:
            # The key matched but this TensorRT/driver still refused the bytes: rebuild, never guess.
            log.warning("tensorrt_plan_rejected", plan=str(prepared.paths.plan), action="rebuilding")
            prepared = prepare_plan(trt, cudart, bundle, force=True, **options)
            self.engine = self.runtime.deserialize_cuda_engine(prepared.data)
        if self.engine is None:
            raise EngineError(f"TensorRT could not deserialize the plan {prepared.paths.plan}")
        #: How this instance got its plan: "built" or "cache" (tests and logs rely on it).
        self.plan_source = "built" if prepared.built else "cache"
        self.plan_path = prepared.paths.plan
        self.plan_key = prepared.key
        self.profiles = prepared.profiles
        self.gpu = prepared.gpu
        self.precision = precision
        self.num_labels = bundle.num_labels
        self.max_batch_tokens = max_batch_tokens
        self.max_seq_len = prepared.profiles.max_seq_len
        self._setup_io()
        self._closed = False
        log.info("tensorrt_engine_ready", model=bundle.name, gpu=self.gpu.name, precision=precision,
                 plan_source=self.plan_source, profiles=len(self.profiles.profiles), plan=str(self.plan_path))

    @classmethod
    def from_settings(cls, bundle: ModelBundle, settings: EngineSettings, **runtime: Any) -> TensorRTEngine:
        """The same keys as ``ner-stage build-engine``, so a server finds the plan that command
        cached; ``runtime``: ``force_build``, ``progress``."""
        return cls(bundle, precision=settings.precision, max_batch_tokens=settings.engine_batch_tokens,
                   max_seq_len=settings.max_seq_len, max_batch_size=settings.max_batch_size,
                   cache_dir=settings.cache_dir, device=settings.device, **runtime)

    # -- set-up --------------------------------------------------------------------------------

    def _setup_io(self) -> None:
        trt, cudart, engine = self._trt, self._cudart, self.engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self._inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) != trt.TensorIOMode.INPUT]
        self._output = "logits" if "logits" in outputs else outputs[0]
        if set(self._inputs) - set(KNOWN_INPUTS):
            raise EngineError(f"plan inputs {self._inputs} are not {KNOWN_INPUTS}")
        if engine.num_optimization_profiles != len(self.profiles.profiles):
            raise EngineError("plan profiles do not match the profile plan; rebuild with build-engine --force")
        self._stream = cuda_check(cudart, cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking),
                                  "cudaStreamCreateWithFlags")
        capacity = self.profiles.max_tokens
        self._device: dict[str, int] = {}
        for name in [*self._inputs, self._output]:
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            shape = (capacity, self.num_labels) if name == self._output else (capacity,)
            view, owner = _pinned(cudart, shape, dtype)
            self._host_owners.append(owner)
            self._host[name] = view
            self._device[name] = cuda_check(cudart, cudart.cudaMalloc(view.nbytes), "cudaMalloc")
            self._device_buffers.append(self._device[name])
        strategy = trt.ExecutionContextAllocationStrategy.ON_PROFILE_CHANGE
        for index in range(engine.num_optimization_profiles):
            context = engine.create_execution_context(strategy)
            if context is None:
                raise EngineError(f"TensorRT could not create an execution context for profile {index} (GPU memory?)")
            if not context.set_optimization_profile_async(index, int(self._stream)):
                raise EngineError(f"TensorRT could not select optimisation profile {index}")
            for name, pointer in self._device.items():
                context.set_tensor_address(name, pointer)
            self._contexts.append(context)
        cuda_check(cudart, cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")

    # -- Engine protocol ---------------------------------------------------------------------------

    def run(self, batch: EngineBatch) -> np.ndarray:
        rows, width = batch.shape
        if self._closed:
            raise EngineError("the tensorrt engine is closed")
        try:
            chunks = self.profiles.route(rows, width)
        except ValueError as exc:
            raise EngineError(f"tensorrt cannot run a batch of shape {batch.shape}: {exc}") from exc
        feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
                 "token_type_ids": batch.token_type_ids}
        out = np.empty((rows, width, self.num_labels), dtype=np.float32)
        with self._lock:
            self._thread_device.use()
            for profile, start, stop in chunks:
                out[start:stop] = self._run_chunk(profile, {n: feeds[n][start:stop] for n in self._inputs})
        return out

    def _run_chunk(self, profile: int, feeds: dict[str, np.ndarray]) -> np.ndarray:
        cudart, stream, context = self._cudart, self._stream, self._contexts[profile]
        rows, width = feeds["input_ids"].shape
        tokens = rows * width
        h2d, d2h = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for name, values in feeds.items():
            host = self._host[name][:tokens]
            np.copyto(host.reshape(rows, width), values, casting="unsafe")  # int64 -> plan dtype
            cuda_check(cudart, cudart.cudaMemcpyAsync(self._device[name], _address(host), host.nbytes, h2d, stream),
                       "cudaMemcpyAsync H2D")
            if not context.set_input_shape(name, (rows, width)):
                raise EngineError(f"tensorrt rejected input shape {(rows, width)} for {name} (profile {profile})")
        if not context.execute_async_v3(int(stream)):
            raise EngineError(f"tensorrt execute_async_v3 failed for a batch of shape {(rows, width)}")
        host_out = self._host[self._output][:tokens]
        cuda_check(cudart, cudart.cudaMemcpyAsync(_address(host_out), self._device[self._output], host_out.nbytes,
                                                  d2h, stream), "cudaMemcpyAsync D2H")
        cuda_check(cudart, cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        return host_out.reshape(rows, width, self.num_labels).astype(np.float32, copy=True)

    def warmup(self) -> None:
        """Run every profile at its min, opt and max shapes once (first calls load kernels)."""
        for spec in self.profiles.profiles:
            for rows, width in {spec.min, spec.opt, spec.max}:
                ids = np.full((rows, width), 100, dtype=np.int64)
                self.run(EngineBatch(ids, np.ones_like(ids), np.zeros_like(ids)))

    def health(self) -> bool:
        ids = np.array([[101, 102]], dtype=np.int64)
        try:
            logits = self.run(EngineBatch(ids, np.ones_like(ids), np.zeros_like(ids)))
        except EngineError:
            return False
        return logits.shape == (1, 2, self.num_labels) and bool(np.isfinite(logits).all())

    def close(self) -> None:
        """Free contexts, device and pinned memory, and the stream (idempotent)."""
        with self._lock:
            self._closed = True
            self._contexts = []
            if not (self._stream is not None or self._device_buffers or self._host):
                return
            cudart = self._cudart
            for pointer in self._device_buffers:
                cudart.cudaFree(pointer)
            for view in self._host.values():
                cudart.cudaHostUnregister(_address(view))
            self._device_buffers, self._host, self._host_owners = [], {}, []
            if self._stream is not None:
                cudart.cudaStreamDestroy(self._stream)
                self._stream = None
            self.engine = None

    def __del__(self) -> None:  # best effort; close() is the contract
        with contextlib.suppress(Exception):  # interpreter shutdown may have torn CUDA down already
            self.close()
