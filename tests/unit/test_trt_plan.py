"""TensorRT planning and plan-cache rules, as pure functions: these run on every machine.

What matters here: every batch shape the service can send has a profile (or is split into
chunks that do), a plan is reused only for exactly the same model/GPU/TensorRT/precision/
profiles, a foreign or damaged plan is rebuilt, a graph TensorRT cannot parse is refused with
the fix, and choosing the engine without TensorRT says what to install.
"""

from __future__ import annotations

import importlib.util
import itertools
import json

import pytest
from click.testing import CliRunner

from engines import EngineUnavailableError, create_engine, load_bundle
from engines.trt_plan import (
    MIN_BUCKET,
    cache_key,
    cache_paths,
    contrib_ops,
    contrib_ops_fix,
    contrib_ops_in,
    default_cache_dir,
    key_digest,
    load_current_plan,
    plan_profiles,
    stale_reason,
    store_plan,
    unavailable_message,
)

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
LIMITS = [(4096, 512, 64), (1024, 512, 64), (256, 128, 8), (8192, 512, 128), (300, 512, 64), (4096, 100, 64)]


def service_shapes(budget: int, max_seq_len: int, max_batch_size: int):
    """Every [rows, width] NerService.infer can produce under these limits."""
    for width in range(1, max_seq_len + 1):
        for rows in range(1, max(1, min(max_batch_size, budget // width)) + 1):
            yield rows, width


@pytest.mark.parametrize(("budget", "seq", "batch"), LIMITS)
def test_every_service_shape_runs_in_one_call_on_a_profile_that_covers_it(budget, seq, batch):
    plan = plan_profiles(budget, seq, max_batch_size=batch)
    for rows, width in service_shapes(budget, seq, batch):
        ((index, start, stop),) = plan.route(rows, width)
        assert (start, stop) == (0, rows)
        assert plan.profiles[index].covers(rows, width)


@pytest.mark.parametrize(("budget", "seq", "batch"), LIMITS)
def test_profile_boxes_stay_near_the_token_budget(budget, seq, batch):
    """Activation memory is sized by the largest box, so boxes must not blow up to rows*max_seq_len."""
    plan = plan_profiles(budget, seq, max_batch_size=batch)
    bound = max(2 * budget, batch * MIN_BUCKET, seq, 512)
    assert all(p.max_tokens <= bound for p in plan.profiles)
    assert all(p.min[0] <= p.opt[0] <= p.max[0] and p.min[1] <= p.opt[1] <= p.max[1] for p in plan.profiles)
    assert plan.profiles[-1].max[1] == seq


def test_a_single_short_text_uses_the_latency_profile_tuned_for_one_sentence():
    plan = plan_profiles(4096, 512)
    ((index, _, _),) = plan.route(1, 24)
    assert index == 0
    assert plan.profiles[0].opt == (1, 32)


def test_oversized_batches_are_split_by_rows_into_covered_chunks():
    plan = plan_profiles(1024, 512, max_batch_size=16)
    chunks = plan.route(300, 200)
    assert chunks[0][1] == 0 and chunks[-1][2] == 300
    assert all(a[2] == b[1] for a, b in itertools.pairwise(chunks))
    assert all(plan.profiles[i].covers(stop - start, 200) for i, start, stop in chunks)


def test_impossible_shapes_are_refused():
    plan = plan_profiles(4096, 128)
    with pytest.raises(ValueError, match="max_seq_len"):
        plan.route(1, 129)
    with pytest.raises(ValueError):
        plan.route(0, 10)


def _key(**overrides):
    base = {"onnx_sha256": "a" * 64, "gpu_name": "NVIDIA H100 80GB HBM3", "compute_capability": (9, 0),
            "trt_version": "10.7.0", "precision": "fp16", "plan": plan_profiles(4096, 512)}
    return cache_key(**{**base, **overrides})


@pytest.mark.parametrize("change", [
    {"onnx_sha256": "b" * 64},
    {"gpu_name": "NVIDIA A100-SXM4-80GB"},
    {"compute_capability": (8, 0)},
    {"trt_version": "10.8.0"},
    {"precision": "fp32"},
    {"plan": plan_profiles(2048, 512)},
    {"plan": plan_profiles(4096, 256)},
])
def test_any_change_of_model_gpu_tensorrt_precision_or_profiles_changes_the_key(change, tmp_path):
    same, other = _key(), _key(**change)
    assert key_digest(same) == key_digest(_key())
    assert key_digest(other) != key_digest(same)
    assert cache_paths(tmp_path, "m", other).plan != cache_paths(tmp_path, "m", same).plan
    assert stale_reason({"digest": key_digest(other), "key": other, "plan_sha256": "x"}, same, "x")


def test_the_stale_reason_names_what_changed():
    theirs = _key(trt_version="10.3.0")
    reason = stale_reason({"digest": key_digest(theirs), "key": theirs, "plan_sha256": "h"}, _key(), "h")
    assert reason and "tensorrt" in reason and "gpu" not in reason
    assert stale_reason({"digest": key_digest(_key()), "key": _key(), "plan_sha256": "h"}, _key(), "h") is None
    assert "no cached plan" in stale_reason(None, _key(), None)
    assert "sidecar" in stale_reason(None, _key(), "h")
    assert "do not match" in stale_reason({"digest": key_digest(_key()), "key": _key(), "plan_sha256": "h"},
                                          _key(), "other")


def test_timing_cache_is_shared_across_models_and_precisions_but_not_gpus(tmp_path):
    a = cache_paths(tmp_path, "m1", _key()).timing_cache
    assert a == cache_paths(tmp_path, "m2", _key(precision="fp32")).timing_cache
    assert a != cache_paths(tmp_path, "m1", _key(gpu_name="NVIDIA L4", compute_capability=(8, 9))).timing_cache
    assert a != cache_paths(tmp_path, "m1", _key(trt_version="10.8.0")).timing_cache


def test_a_stored_plan_is_loaded_only_while_key_and_bytes_match(tmp_path):
    key = _key()
    paths = cache_paths(tmp_path / "cache", "rampart-fp32", key)
    assert load_current_plan(paths, key) == (None, "no cached plan")
    store_plan(paths, key, b"PLAN" * 1000, model="rampart-fp32")
    assert load_current_plan(paths, key) == (b"PLAN" * 1000, None)
    assert sorted(p.name for p in paths.plan.parent.iterdir()) == sorted([paths.plan.name, paths.sidecar.name])

    foreign = _key(gpu_name="NVIDIA A10G", compute_capability=(8, 6))  # a cache dir copied from another host
    sidecar = json.loads(paths.sidecar.read_text())
    paths.sidecar.write_text(json.dumps({**sidecar, "key": foreign, "digest": key_digest(foreign)}))
    data, reason = load_current_plan(paths, key)
    assert data is None and "gpu" in reason

    store_plan(paths, key, b"PLAN" * 1000)
    paths.plan.write_bytes(b"PLAN" * 10)  # truncated copy
    data, reason = load_current_plan(paths, key)
    assert data is None and "do not match" in reason

    paths.sidecar.write_text("{not json")
    assert load_current_plan(paths, key)[0] is None


def test_default_cache_dir_is_beside_a_writable_bundle(tmp_path):
    assert default_cache_dir(tmp_path) == tmp_path / "trt"


def test_the_default_4bit_bundle_is_detected_as_contrib_ops_with_the_fix():
    bundle = load_bundle("rampart")
    ops = contrib_ops_in(bundle.onnx_path)
    assert ops == {"com.microsoft.MatMulNBits": 37}
    message = contrib_ops_fix(bundle.onnx_path, ops)
    assert "MatMulNBits" in message and "ner-stage export" in message and "float32_checkpoint" in message


def test_contrib_ops_reads_graphs_made_by_onnx_including_subgraphs():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    plain = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]))
    assert contrib_ops(plain.SerializeToString()) == {}

    inner = helper.make_graph([helper.make_node("FastGelu", ["x"], ["y"], domain="com.microsoft")], "b", [], [y])
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    branch = helper.make_node("If", ["c"], ["y"], then_branch=inner, else_branch=inner)
    nested = helper.make_model(helper.make_graph(
        [branch, helper.make_node("MatMulNBits", ["x"], ["z"], domain="com.microsoft")], "g", [cond, x], [y]))
    onnx.checker.check_model(plain)
    assert contrib_ops(nested.SerializeToString()) == {"com.microsoft.FastGelu": 2, "com.microsoft.MatMulNBits": 1}


def test_unavailable_message_says_what_is_missing_and_how_to_install():
    message = unavailable_message(["TensorRT 10", "a CUDA GPU"])
    assert "TensorRT 10; a CUDA GPU" in message
    for fix in ("pip install 'ner-stage[gpu]'", "tensorrt-cu12", "cuda-python", "--engine onnxruntime"):
        assert fix in message


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here; the missing-library error cannot happen")
def test_choosing_tensorrt_without_it_fails_at_start_with_one_clear_message():
    with pytest.raises(EngineUnavailableError) as info:
        create_engine("tensorrt", load_bundle("rampart"))
    message = str(info.value)
    assert "TensorRT 10" in message and "GPU" in message
    assert "pip install 'ner-stage[gpu]'" in message and "tensorrt-cu12" in message and "cuda-python" in message


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here; the missing-library error cannot happen")
def test_build_engine_command_reports_the_same_error():
    from pipeline.cli.build_engine import command

    result = CliRunner().invoke(command, ["rampart", "--max-batch-tokens", "1024"])
    assert isinstance(result.exception, EngineUnavailableError)


def test_build_engine_documents_every_flag_with_its_environment_variable():
    from pipeline.cli.build_engine import command

    for param in command.params:
        if param.name in ("bundle", "force", "config_file") or getattr(param, "hidden", False):
            continue
        assert "[NER_" in (param.help or ""), param.name


class _FakeCudart:
    """The few cuda.bindings.runtime calls require_runtime makes, answering "no GPU visible"."""

    class cudaError_t:
        cudaSuccess = 0

    @staticmethod
    def cudaGetDeviceCount():
        return 0, 0


def _fake_modules(monkeypatch, trt_version: str | None, cudart=_FakeCudart) -> None:
    import sys
    import types

    if trt_version is None:
        monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails as if not installed
    else:
        monkeypatch.setitem(sys.modules, "tensorrt", types.SimpleNamespace(__version__=trt_version))
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = cudart
    monkeypatch.setitem(sys.modules, "cuda", types.ModuleType("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)


def test_an_old_tensorrt_and_no_visible_gpu_are_named_in_one_message(monkeypatch):
    from engines.trt_build import require_runtime

    _fake_modules(monkeypatch, "8.6.1")
    with pytest.raises(EngineUnavailableError) as info:
        require_runtime()
    message = str(info.value)
    assert "found TensorRT 8.6.1" in message and "tensorrt-cu12>=10,<11" in message
    assert "none visible" in message and "CUDA_VISIBLE_DEVICES" in message
    assert message.count("pip install 'ner-stage[gpu]'") == 1


def test_missing_tensorrt_with_cuda_python_present_names_only_tensorrt(monkeypatch):
    from engines.trt_build import require_runtime

    class OneGpu(_FakeCudart):
        @staticmethod
        def cudaGetDeviceCount():
            return 0, 1

    _fake_modules(monkeypatch, None, OneGpu)
    with pytest.raises(EngineUnavailableError) as info:
        require_runtime()
    assert "missing TensorRT 10 (Python package 'tensorrt'" in str(info.value)
    assert "GPU" not in str(info.value).split(". Install")[0].replace("TensorRT", "")


class _DeviceCudart(_FakeCudart):
    """Records which device each host thread made current (cudaSetDevice is per thread)."""

    def __init__(self) -> None:
        import threading

        self.current = threading.local()
        self.calls: list[tuple[str, int]] = []

    def cudaSetDevice(self, device):
        import threading

        self.current.device = device
        self.calls.append((threading.current_thread().name, device))
        return (0,)


def test_the_tensorrt_engine_makes_its_device_current_on_every_thread_that_runs_it():
    """A server with --device 1 runs batches on the batcher's thread, not the constructing one:
    each thread must select device 1 itself, once."""
    import threading

    import numpy as np

    from engines.base import EngineBatch
    from engines.tensorrt import TensorRTEngine, ThreadDevice

    cudart = _DeviceCudart()
    engine = TensorRTEngine.__new__(TensorRTEngine)  # the CUDA half only: no TensorRT here
    engine._lock, engine._closed, engine.num_labels = threading.Lock(), False, 3
    engine._thread_device = ThreadDevice(cudart, 1)
    engine._inputs = ["input_ids", "attention_mask"]
    engine.profiles = type("Plan", (), {"route": staticmethod(lambda rows, width: [(0, 0, rows)])})()
    seen = []

    def run_chunk(profile, feeds):
        seen.append((threading.current_thread().name, getattr(cudart.current, "device", None)))
        rows, width = feeds["input_ids"].shape
        return np.zeros((rows, width, 3), dtype=np.float32)

    engine._run_chunk = run_chunk
    ids = np.ones((2, 4), dtype=np.int64)
    batch = EngineBatch(ids, ids, np.zeros_like(ids))
    engine._thread_device.use()  # the constructing thread, as __init__ does
    for name in ("ner-engine", "other"):
        for _ in range(2):
            thread = threading.Thread(target=engine.run, args=(batch,), name=name)
            thread.start()
            thread.join()
    engine.run(batch)
    assert {device for _, device in seen} == {1}  # every call ran with device 1 current
    assert [d for _, d in cudart.calls] == [1] * 5  # once per thread object (4 threads + this one)


def test_engines_build_themselves_from_model_settings_and_reject_unknown_options():
    import inspect

    from engines.ort import OnnxRuntimeEngine
    from engines.tensorrt import TensorRTEngine
    from pipeline.config import ModelSettings

    engine = OnnxRuntimeEngine.from_settings(load_bundle("rampart"), ModelSettings.load(threads=1, max_seq_len=64,
                                                                                       engine_batch_tokens=512))
    assert engine.max_seq_len == 64 and engine.max_batch_tokens == 512
    for cls in (OnnxRuntimeEngine, TensorRTEngine):
        kinds = {p.kind for p in inspect.signature(cls.__init__).parameters.values()}
        assert inspect.Parameter.VAR_KEYWORD not in kinds, cls  # no **_ swallowing typos
