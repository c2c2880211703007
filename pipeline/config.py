"""Settings: the only place configuration is read from the environment or a file.

Precedence, highest first: command-line flags, ``NER_*`` environment variables, a config file
(``--config FILE`` or ``NER_CONFIG``; YAML, TOML or JSON with flat keys named like the
settings, e.g. ``model: rampart``), then defaults. Every area of the stage (model, HTTP, Kafka,
redaction) has its own ``BaseSettings`` subclass of :class:`NerSettings`, so each reads exactly
the keys it knows; field ``foo_bar`` is flag ``--foo-bar`` and variable ``NER_FOO_BAR``.
Secrets are ``SecretStr`` and are turned into plain strings only at the edge (librdkafka config,
HMAC keys).
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from pipeline.errors import ConfigError

S = TypeVar("S", bound="NerSettings")
CONFIG_ENV = "NER_CONFIG"


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a flat settings file (YAML, TOML or JSON by extension)."""
    file = Path(path)
    try:
        raw = file.read_text(encoding="utf-8")
        if file.suffix in (".toml",):
            data = tomllib.loads(raw)
        elif file.suffix == ".json":
            data = json.loads(raw)
        else:
            data = yaml.safe_load(raw) or {}
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{file}: cannot read config file: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: config file must hold a mapping of setting names to values")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def config_file_from_env() -> str | None:
    return os.environ.get(CONFIG_ENV) or None


def running_in_ci() -> bool:
    """``CI=true`` (as CI services set it): local fallbacks that would hide a missing dependency
    (e.g. Tansu instead of Apache Kafka in ``bench kafka``) are refused there."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


class _FileSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = {k: v for k, v in data.items() if k in settings_cls.model_fields}

    def get_field_value(self, field, field_name):  # pragma: no cover - required by the ABC
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class NerSettings(BaseSettings):
    """Base for every settings class: ``NER_`` env prefix, optional config file."""

    model_config = SettingsConfigDict(env_prefix="NER_", extra="ignore", env_nested_delimiter="__")
    _file_data: ClassVar[dict[str, Any]] = {}

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return (init_settings, env_settings, _FileSource(settings_cls, cls._file_data))

    @classmethod
    def load(cls: type[S], config_file: str | Path | None = None, **overrides: Any) -> S:
        """Build settings from flags (``overrides``; None means "not given"), env and file."""
        path = config_file or config_file_from_env()
        data = read_config_file(path) if path else {}
        given = {k: v for k, v in overrides.items() if v is not None}
        subclass = type(cls.__name__, (cls,), {"_file_data": data, "__module__": cls.__module__})
        try:
            loaded = subclass(**given)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"invalid settings for {cls.__name__}: {problems}") from exc
        return cls.model_validate(loaded.model_dump())


Aggregation = Literal["none", "simple", "first", "average", "max"]


class ModelSettings(NerSettings):
    """Which model and engine to run, and how to feed it."""

    model: str = Field(
        "rampart", description="Model name ('rampart', or 'rampart-int8': int8, built and cached on first use) "
                               "or a bundle directory.")
    engine: Literal["onnxruntime", "tensorrt"] = Field("onnxruntime", description="Inference runtime.")
    threads: int | None = Field(None, ge=1, description="Engine intra-op threads (default: all cores).")
    max_batch_tokens: int = Field(
        4096, ge=16, description="Token budget per engine call (padded tokens, across documents)."
    )
    max_batch_size: int = Field(64, ge=1, description="Most sequences per engine call.")
    max_seq_len: int | None = Field(
        None, ge=8, description="Model window in tokens incl. special tokens (default: the model's)."
    )
    stride: int = Field(
        64, ge=0, description="Overlapping tokens between windows of a text longer than the model window."
    )
    max_chars: int = Field(
        1_000_000, ge=1, description="Longest accepted text in characters; longer input is rejected."
    )
    warmup: bool = Field(True, description="Run warm-up batches at start-up.")
    spin: bool = Field(
        True, description="Let idle onnxruntime threads spin between calls (lower latency, more CPU while idle)."
    )
    # TensorRT only (onnxruntime runs the bundle's ONNX as it is). Shared by `serve`, `worker`
    # and `build-engine` so all three compute the same plan cache key.
    precision: Literal["fp16", "fp32"] = Field("fp16", description="TensorRT kernel precision.")
    cache_dir: str | None = Field(None, description="TensorRT plan cache directory (default: beside the bundle).")
    device: int = Field(0, ge=0, description="CUDA device index (TensorRT).")


def _recall_defaults() -> dict[str, float]:
    from pipeline.recall import DEFAULT_RECALL_THRESHOLDS  # numpy-free at import of this module

    return dict(DEFAULT_RECALL_THRESHOLDS)


class DecodeSettings(NerSettings):
    """Defaults for turning logits into predictions (requests may override)."""

    aggregation: Aggregation = Field(
        "first", description="Sub-word aggregation strategy for entity spans (Kafka, redaction)."
    )
    merge_adjacent: bool = Field(True, description="Join touching same-label spans after aggregation.")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="Drop entities scoring below this.")
    label_thresholds: dict[str, float] = Field(
        default_factory=dict, description="Per-label minimum scores, e.g. {\"EMAIL\": 0.8}."
    )
    ignore_labels: list[str] = Field(default_factory=lambda: ["O"], description="Labels never reported.")
    recall_thresholds: dict[str, float] = Field(
        default_factory=lambda: _recall_defaults(),
        description="Entity spans (Kafka, redaction) only: a word joins an entity when the B-+I- probability of "
                    "the label (or group: NAME, ADDRESS) reaches this, not only on argmax; {} for argmax only. "
                    "/predict_tokens is not affected.",
    )
