"""Inference runtimes behind one protocol, chosen by name and imported lazily.

Lazy import keeps the CPU image free of TensorRT: ``create_engine("tensorrt", ...)`` is the
only thing that imports ``engines.tensorrt`` (and through it, ``tensorrt``).
"""

from __future__ import annotations

import importlib
from typing import Any

from engines.base import Engine, EngineBatch
from engines.bundle import DEFAULT_MODEL, ModelBundle, load_bundle
from engines.errors import BundleError, EngineError, EngineUnavailableError, NerStageError

#: Engine name -> "module:Class". Add a runtime by adding a line here.
ENGINES: dict[str, str] = {
    "onnxruntime": "engines.ort:OnnxRuntimeEngine",
    "tensorrt": "engines.tensorrt:TensorRTEngine",
}

__all__ = [
    "DEFAULT_MODEL",
    "ENGINES",
    "BundleError",
    "Engine",
    "EngineBatch",
    "EngineError",
    "EngineUnavailableError",
    "ModelBundle",
    "NerStageError",
    "create_engine",
    "load_bundle",
]


def create_engine(name: str, bundle: ModelBundle, **options: Any) -> Engine:
    """Instantiate the engine called ``name`` for ``bundle``."""
    try:
        target = ENGINES[name]
    except KeyError as exc:
        raise EngineError(f"unknown engine {name!r}; choose one of {sorted(ENGINES)}") from exc
    module_name, class_name = target.split(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name)(bundle, **options)
