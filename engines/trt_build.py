"""Building TensorRT plans from a bundle's ONNX graph, with progress output, through the cache.

Imported only by ``engines.tensorrt`` and ``ner-stage build-engine``; ``tensorrt`` and
``cuda-python`` are imported inside :func:`require_runtime`, so importing this module never
fails and the missing pieces are reported together in one message.

Targets the TensorRT 10 Python API (``build_serialized_network``, name-based I/O tensors,
timing caches, ``IProgressMonitor``) and NVIDIA's ``cuda-python`` runtime bindings.
Precision is weakly typed (``BuilderFlag.FP16``): I/O stays int64/float32 as in the ONNX graph,
TensorRT picks FP16 kernels inside, and LayerNormalization layers keep an FP32 compute
precision, which TensorRT recommends against FP16 overflow after self-attention.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import structlog

from engines.bundle import ModelBundle
from engines.errors import BundleError, EngineError, EngineUnavailableError
from engines.trt_plan import (
    PRECISIONS,
    CachePaths,
    ProfilePlan,
    build_lock,
    cache_key,
    cache_paths,
    contrib_ops_fix,
    contrib_ops_in,
    default_cache_dir,
    load_current_plan,
    plan_profiles,
    store_plan,
    store_timing_cache,
    unavailable_message,
)

log = structlog.get_logger(__name__)
Progress = Callable[[str], None]
#: Names the service feeds; a graph asking for anything else is not a token classifier.
KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_TRT_MAJOR = 10


def _quiet(_: str) -> None:
    pass


# -- runtime discovery --------------------------------------------------------------------------


def require_runtime() -> tuple[ModuleType, ModuleType]:
    """``(tensorrt, cuda.bindings.runtime)``, or one EngineUnavailableError naming all that is missing."""
    missing: list[str] = []
    trt = cudart = None
    try:
        import tensorrt as trt
    except (ImportError, OSError):
        missing.append("TensorRT 10 (Python package 'tensorrt', from tensorrt-cu12)")
    else:
        if int(trt.__version__.split(".")[0]) != _TRT_MAJOR:
            missing.append(f"TensorRT 10.x (found TensorRT {trt.__version__}; pip install 'tensorrt-cu12>=10,<11')")
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        missing.append("NVIDIA cuda-python 12.x (module cuda.bindings.runtime)")
        missing.append("a CUDA GPU (not checked: needs cuda-python)")
    else:
        err, count = cudart.cudaGetDeviceCount()
        if err != cudart.cudaError_t.cudaSuccess:
            missing.append(f"a CUDA GPU (cudaGetDeviceCount: {_error_text(cudart, err)})")
        elif count == 0:
            missing.append("a CUDA GPU (none visible: check the NVIDIA driver, CUDA_VISIBLE_DEVICES, docker --gpus)")
    if missing:
        raise EngineUnavailableError(unavailable_message(missing))
    return trt, cudart


def _text(value: Any) -> str:
    """cuda-python returns C strings as bytes (NUL-padded for fixed arrays); tolerate str too."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).split(b"\0", 1)[0].decode(errors="replace")
    return str(value).split("\0", 1)[0].strip()


def _error_text(cudart: ModuleType, err: Any) -> str:
    _, name = cudart.cudaGetErrorName(err)
    _, text = cudart.cudaGetErrorString(err)
    return f"{_text(name)}: {_text(text)}"


def cuda_check(cudart: ModuleType, result: tuple, what: str) -> Any:
    """Unwrap a cuda-python ``(err, *values)`` tuple, raising EngineError on failure."""
    err, *values = result
    if err != cudart.cudaError_t.cudaSuccess:
        raise EngineError(f"CUDA {what} failed: {_error_text(cudart, err)}")
    return values[0] if len(values) == 1 else (tuple(values) or None)


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    compute_capability: tuple[int, int]
    total_memory: int


def gpu_info(cudart: ModuleType, device: int = 0) -> GpuInfo:
    cuda_check(cudart, cudart.cudaSetDevice(device), f"cudaSetDevice({device})")
    prop = cuda_check(cudart, cudart.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    return GpuInfo(device, _text(prop.name), (int(prop.major), int(prop.minor)), int(prop.totalGlobalMem))


_LOGGER: Any = None


def trt_logger(trt: ModuleType) -> Any:
    """One process-wide ``trt.ILogger`` that forwards warnings and errors to structlog."""
    global _LOGGER
    if _LOGGER is None:
        severity = trt.ILogger.Severity
        levels = {severity.INTERNAL_ERROR: "error", severity.ERROR: "error", severity.WARNING: "warning"}

        class _StructLogger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)

            def log(self, sev: Any, msg: str) -> None:
                level = levels.get(sev)
                if level:
                    getattr(log, level)("tensorrt", message=msg)

        _LOGGER = _StructLogger()
    return _LOGGER


# -- building ------------------------------------------------------------------------------------


def _progress_monitor(trt: ModuleType, progress: Progress) -> Any:
    """An ``IProgressMonitor`` printing phase starts/ends and, at most every 2 s, step counts."""

    class _Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._lock = threading.Lock()
            self._steps: dict[str, int] = {}
            self._depth: dict[str, int] = {}
            self._last = 0.0
            self._started = time.monotonic()

        def _say(self, text: str) -> None:
            progress(f"[{time.monotonic() - self._started:6.1f}s] {text}")

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            with self._lock:
                depth = self._depth.get(parent_phase, -1) + 1 if parent_phase else 0
                self._depth[phase_name], self._steps[phase_name] = depth, num_steps
                if depth <= 1:
                    self._say(f"{'  ' * depth}{phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name: str, step: int) -> bool:
            with self._lock:
                now = time.monotonic()
                if self._depth.get(phase_name, 0) <= 1 and now - self._last >= 2.0:
                    self._last = now
                    depth = self._depth.get(phase_name, 0)
                    self._say(f"{'  ' * depth}{phase_name}: {step + 1}/{self._steps.get(phase_name, '?')}")
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            with self._lock:
                if self._depth.pop(phase_name, 0) == 0:
                    self._say(f"{phase_name} done")
                self._steps.pop(phase_name, None)

    return _Monitor()


def _check_network(network: Any, onnx_path: Path, num_labels: int) -> None:
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    unknown = sorted(set(names) - set(KNOWN_INPUTS))
    if unknown or "input_ids" not in names or "attention_mask" not in names:
        raise BundleError(
            f"{onnx_path}: graph inputs {names} are not a token classifier's "
            f"(expected input_ids, attention_mask[, token_type_ids]); re-export with `ner-stage export`"
        )
    for i in range(network.num_inputs):
        if len(network.get_input(i).shape) != 2:
            raise BundleError(f"{onnx_path}: input {names[i]} must be [batch, sequence]")
    out = network.get_output(0).shape
    if len(out) != 3 or (out[-1] > 0 and out[-1] != num_labels):
        raise BundleError(
            f"{onnx_path}: output shape {tuple(out)} is not [batch, sequence, {num_labels}] "
            "(config.json id2label); export the ONNX and config.json from the same checkpoint"
        )


def _keep_layernorm_fp32(trt: ModuleType, network: Any) -> int:
    """FP32 compute for LayerNormalization layers (opset >= 17 exports; older ones are fused by TensorRT)."""
    kept = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type == trt.LayerType.NORMALIZATION:
            layer.__class__ = trt.INormalizationLayer  # the Python API's down-cast to the concrete layer
            if hasattr(layer, "compute_precision"):  # TensorRT 10 API; not every build exposes it
                layer.compute_precision = trt.float32
                kept += 1
    return kept


def build_plan(
    trt: ModuleType,
    onnx_path: Path,
    plan: ProfilePlan,
    precision: str,
    *,
    num_labels: int,
    timing_cache: bytes = b"",
    workspace_bytes: int | None = None,
    progress: Progress = _quiet,
) -> tuple[bytes, bytes]:
    """Parse ``onnx_path`` and build a serialized plan; returns ``(plan, timing cache)``."""
    logger = trt_logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    progress(f"parsing {onnx_path}")
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BundleError(
            f"{onnx_path}: TensorRT cannot parse this graph ({errors}); it needs a plain float32 export: "
            "`ner-stage export HF_DIR BUNDLE_DIR` without --optimize/--quantize-int8"
        )
    _check_network(network, onnx_path, num_labels)
    config = builder.create_builder_config()
    if workspace_bytes:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
        kept = _keep_layernorm_fp32(trt, network)
        progress(f"precision fp16 ({kept} LayerNormalization layers kept at fp32 compute)")
    inputs = [network.get_input(i).name for i in range(network.num_inputs)]
    for spec in plan.profiles:
        profile = builder.create_optimization_profile()
        for name in inputs:
            profile.set_shape(name, spec.min, spec.opt, spec.max)
        config.add_optimization_profile(profile)
        progress(f"profile rows x width: min {spec.min}, opt {spec.opt}, max {spec.max}")
    cache = config.create_timing_cache(timing_cache)
    if not config.set_timing_cache(cache, False):
        progress("timing cache did not match this GPU/TensorRT; starting an empty one")
        config.set_timing_cache(config.create_timing_cache(b""), False)
    monitor = _progress_monitor(trt, progress)
    config.progress_monitor = monitor  # must outlive the build: kept referenced until return
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineError(f"TensorRT failed to build a plan for {onnx_path}; see the tensorrt log lines above")
    return bytes(serialized), bytes(config.get_timing_cache().serialize())


# -- the cache -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedPlan:
    """A plan ready to deserialize, and where it came from."""

    data: bytes
    paths: CachePaths
    key: dict
    profiles: ProfilePlan
    gpu: GpuInfo
    built: bool
    reason: str | None
    seconds: float


def check_parsable(bundle: ModelBundle) -> None:
    """Fail early (before any GPU work) on graphs with ONNX Runtime contrib operators."""
    ops = contrib_ops_in(bundle.onnx_path)
    if ops:
        raise BundleError(contrib_ops_fix(bundle.onnx_path, ops))


def prepare_plan(
    trt: ModuleType,
    cudart: ModuleType,
    bundle: ModelBundle,
    *,
    precision: str = "fp16",
    max_batch_tokens: int = 4096,
    max_seq_len: int | None = None,
    max_batch_size: int = 64,
    cache_dir: str | Path | None = None,
    device: int = 0,
    force: bool = False,
    progress: Progress = _quiet,
) -> PreparedPlan:
    """Load the cached plan for this bundle/GPU/TensorRT/precision/profiles, or build and cache it."""
    if precision not in PRECISIONS:
        raise EngineError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    check_parsable(bundle)
    seq = min(max_seq_len or bundle.max_position_embeddings, bundle.max_position_embeddings)
    profiles = plan_profiles(max_batch_tokens, seq, max_batch_size=max_batch_size)
    gpu = gpu_info(cudart, device)
    key = cache_key(onnx_sha256=bundle.onnx_sha256, gpu_name=gpu.name, compute_capability=gpu.compute_capability,
                    trt_version=trt.__version__, precision=precision, plan=profiles)
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir(bundle.path)
    paths = cache_paths(root, bundle.name, key)
    started = time.perf_counter()
    data, reason = (None, "rebuild forced") if force else load_current_plan(paths, key)
    if data is not None:
        return PreparedPlan(data, paths, key, profiles, gpu, False, None, time.perf_counter() - started)
    try:
        with build_lock(paths):
            if not force:  # another process may have built it while we waited for the lock
                data, reason = load_current_plan(paths, key)
                if data is not None:
                    return PreparedPlan(data, paths, key, profiles, gpu, False, None, time.perf_counter() - started)
            log.info("tensorrt_build", model=bundle.name, gpu=gpu.name, precision=precision, reason=reason,
                     plan=str(paths.plan))
            progress(f"building a TensorRT {precision} plan for {bundle.name} on {gpu.name} "
                     f"(sm {gpu.compute_capability[0]}.{gpu.compute_capability[1]}, TensorRT {trt.__version__}): "
                     f"{reason}")
            timing = paths.timing_cache.read_bytes() if paths.timing_cache.is_file() else b""
            data, timing_out = build_plan(trt, bundle.onnx_path, profiles, precision, num_labels=bundle.num_labels,
                                          timing_cache=timing, progress=progress)
            seconds = time.perf_counter() - started
            store_plan(paths, key, data, model=bundle.name, onnx=str(bundle.onnx_path),
                       built_at=datetime.now(UTC).isoformat(timespec="seconds"), build_seconds=round(seconds, 1))
            store_timing_cache(paths, timing_out)
    except OSError as exc:
        raise EngineError(
            f"cannot write the TensorRT cache in {root} ({exc}); pass a writable --cache-dir"
        ) from exc
    progress(f"plan written to {paths.plan} ({len(data) / 2**20:.1f} MiB, {seconds:.1f}s)")
    return PreparedPlan(data, paths, key, profiles, gpu, True, reason, seconds)
