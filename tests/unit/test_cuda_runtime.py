"""The CUDA half of the TensorRT engine against a real CUDA runtime (NVIDIA cuda-python).

These run wherever cuda-python and a GPU exist, with or without TensorRT: the device queries
that feed the plan cache key, the pinned host buffers and the async copies on a non-blocking
stream that every TensorRT call uses, and the start-up check naming exactly what is missing.
Skipped elsewhere, with the reason."""

from __future__ import annotations

import numpy as np
import pytest

cudart = pytest.importorskip("cuda.bindings.runtime", reason="needs NVIDIA cuda-python (cuda.bindings.runtime)")
_err, _count = cudart.cudaGetDeviceCount()
if _err != cudart.cudaError_t.cudaSuccess or _count == 0:
    pytest.skip("needs a CUDA GPU (cudaGetDeviceCount found none)", allow_module_level=True)

from engines.errors import EngineError, EngineUnavailableError  # noqa: E402
from engines.tensorrt import _address, _pinned  # noqa: E402
from engines.trt_build import cuda_check, gpu_info, require_runtime  # noqa: E402

pytestmark = pytest.mark.gpu


def test_gpu_info_reads_the_name_and_compute_capability_used_in_the_plan_cache_key():
    info = gpu_info(cudart, 0)
    assert info.name and "\0" not in info.name and info.name == info.name.strip()
    assert info.compute_capability >= (5, 0)
    assert info.total_memory > 1 << 30


def test_pinned_buffers_round_trip_through_the_device_on_a_non_blocking_stream():
    stream = cuda_check(cudart, cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking), "stream")
    host_in, owner_in = _pinned(cudart, (8, 384), np.dtype(np.int64))
    host_out, owner_out = _pinned(cudart, (8, 384), np.dtype(np.int64))
    assert _address(host_in) % 4096 == 0 and host_in.flags.c_contiguous
    device = cuda_check(cudart, cudart.cudaMalloc(host_in.nbytes), "cudaMalloc")
    try:
        host_in[...] = np.arange(host_in.size, dtype=np.int64).reshape(host_in.shape) * 7
        host_out[...] = -1
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        cuda_check(cudart, cudart.cudaMemcpyAsync(device, _address(host_in), host_in.nbytes, h2d, stream), "H2D")
        cuda_check(cudart, cudart.cudaMemcpyAsync(_address(host_out), device, host_out.nbytes, d2h, stream), "D2H")
        cuda_check(cudart, cudart.cudaStreamSynchronize(stream), "sync")
        np.testing.assert_array_equal(host_out, host_in)
    finally:
        cuda_check(cudart, cudart.cudaFree(device), "cudaFree")
        for view in (host_in, host_out):
            cuda_check(cudart, cudart.cudaHostUnregister(_address(view)), "cudaHostUnregister")
        cuda_check(cudart, cudart.cudaStreamDestroy(stream), "cudaStreamDestroy")
    del owner_in, owner_out


def test_cuda_errors_become_engine_errors_with_cuda_s_own_text():
    with pytest.raises(EngineError, match=r"CUDA cudaSetDevice\(999\) failed: cudaErrorInvalidDevice"):
        gpu_info(cudart, 999)


def test_start_up_check_finds_the_gpu_and_names_only_what_is_missing():
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(EngineUnavailableError) as caught:
            require_runtime()
        missing = str(caught.value).split("missing ", 1)[1].split(". Install", 1)[0]
        assert missing == "TensorRT 10 (Python package 'tensorrt', from tensorrt-cu12)"
    else:
        trt, found = require_runtime()
        assert found is cudart and int(trt.__version__.split(".")[0]) == 10
