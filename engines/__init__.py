"""Inference runtimes behind one protocol, chosen by name and imported lazily.

Lazy import keeps the CPU image free of TensorRT: ``create_engine("tensorrt", ...)`` is the
only thing that imports ``engines.tensorrt`` (and through it, ``tensorrt``).
"""

from __future__ import annotations

import importlib
from typing import Any

from engines.base import Engine, EngineBatch, EngineSettings
from engines.bundle import ModelBundle, load_bundle
from engines.errors import BundleError, EngineError, EngineUnavailableError, NerStageError
from engines.rampart import DEFAULT_MODEL

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
    "EngineSettings",
    "EngineUnavailableError",
    "ModelBundle",
    "NerStageError",
    "create_engine",
    "engine_from_settings",
    "load_bundle",
]


def engine_class(name: str) -> type:
    """The engine class called ``name``, imported now (and only now)."""
    try:
        target = ENGINES[name]
    except KeyError as exc:
        raise EngineError(f"unknown engine {name!r}; choose one of {sorted(ENGINES)}") from exc
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_engine(name: str, bundle: ModelBundle, **options: Any) -> Engine:
    """Instantiate the engine called ``name`` for ``bundle`` with explicit options (tests, tools)."""
    return engine_class(name)(bundle, **options)


def engine_from_settings(bundle: ModelBundle, settings: EngineSettings, **runtime: Any) -> Engine:
    """The engine ``settings.engine`` names, built from the model settings by its own
    ``from_settings`` (each engine knows which settings it uses)."""
    return engine_class(settings.engine).from_settings(bundle, settings, **runtime)
