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

import difflib
import importlib
import json
import os
import re
import sys
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from pipeline.errors import ConfigError
from schemas.http import Aggregation

S = TypeVar("S", bound="NerSettings")
CONFIG_ENV = "NER_CONFIG"

#: Modules that define settings classes besides the ``settings.py`` of each package (found by
#: file name). A config-file key that no field of any of them (nor of any other loaded
#: ``NerSettings`` subclass) knows is refused, naming the key: one file may serve several
#: commands, so the keys of all of them are allowed. Settings outside a ``settings.py`` add
#: their module here.
SETTINGS_MODULES = ("pipeline.config", "pipeline.http.settings", "pipeline.kafka.settings",
                    "pipeline.redact.settings", "pipeline.cli.text_io", "pipeline.kafka.topics")

#: Old setting name -> new one (one name per concept). The old flag, ``NER_*`` variable and
#: config key still work, with a warning on stderr; the new name wins when both are given.
RENAMED: dict[str, str] = {"max_batch_tokens": "engine_batch_tokens", "max_chars": "max_text_chars"}

_warned: set[str] = set()


def warn_deprecated(old: str, new: str) -> None:
    """One line on stderr per old name and process (stdout may carry the command's JSON)."""
    if old not in _warned:
        _warned.add(old)
        print(f"ner-stage: warning: {old} is deprecated, use {new}", file=sys.stderr)


def env_name(field: str) -> str:
    return f"NER_{field.upper()}"


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def known_setting_names() -> set[str]:
    """Every setting name of every settings class (see ``SETTINGS_MODULES``), plus old names."""
    package = Path(__file__).parent
    found = [".".join(("pipeline", *path.relative_to(package).with_suffix("").parts))
             for path in package.rglob("settings.py")]
    for module in (*SETTINGS_MODULES, *sorted(found)):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # an optional area not installed: its keys are unknown
            if not (exc.name and module.startswith(exc.name)):
                raise
    names, todo = set(RENAMED), list(NerSettings.__subclasses__())
    while todo:
        cls = todo.pop()
        names.update(cls.model_fields)
        todo.extend(cls.__subclasses__())
    return names


def _check_keys(path: str | Path, data: dict[str, Any]) -> None:
    known = known_setting_names()
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}: unknown setting {key!r}{hint}")


def expected_form(field) -> str:
    """How a value of ``field`` is written in a ``NER_*`` variable or the config file."""
    bare = field.annotation
    if typing.get_origin(bare) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(bare) if a is not type(None)]
        bare = args[0] if len(args) == 1 else bare
    origin = typing.get_origin(bare) or bare
    if origin is list:
        return 'a JSON list, e.g. ["A","B"]'
    if origin is dict:
        return 'a JSON object, e.g. {"KEY": 0.8}'
    if origin is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(bare)))
    if bare is bool:
        return "true or false"
    return getattr(bare, "__name__", str(bare))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a flat settings file (YAML, TOML or JSON by extension); any mapping, its keys are
    not checked (``--label-map`` files are read this way too)."""
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
    def _renamed(cls, data: dict[str, Any], given: dict[str, Any]) -> None:
        """Old names (``RENAMED``) in the file or environment feed the new field, with a warning."""
        for old, new in RENAMED.items():
            if new not in cls.model_fields:
                continue
            if old in given:  # a caller still passing the old keyword
                warn_deprecated(repr(old), repr(new))
                given.setdefault(new, given.pop(old))
            if old in data:
                warn_deprecated(f"config key {old!r}", repr(new))
                data.setdefault(new, data[old])
            if env_name(old) in os.environ and new not in given and env_name(new) not in os.environ:
                warn_deprecated(env_name(old), env_name(new))
                given[new] = os.environ[env_name(old)]

    @classmethod
    def load(cls: type[S], config_file: str | Path | None = None, **overrides: Any) -> S:
        """Build settings from flags (``overrides``; None means "not given"), env and file.

        Every problem is one :class:`ConfigError` line naming the setting (flag and variable)
        and the expected form: the CLI prints it and exits 2."""
        path = config_file or config_file_from_env()
        data = read_config_file(path) if path else {}
        if path:
            _check_keys(path, data)
        given = {k: v for k, v in overrides.items() if v is not None}
        cls._renamed(data, given)
        subclass = type(cls.__name__, (cls,), {"_file_data": data, "__module__": cls.__module__})
        try:
            loaded = subclass(**given)
        except SettingsError as exc:  # a NER_* variable that is not the JSON its field needs
            match = re.search(r'field "([^"]+)"', str(exc))
            name = match.group(1) if match else "?"
            field = cls.model_fields.get(name)
            form = expected_form(field) if field is not None else "valid JSON"
            raise ConfigError(f"{env_name(name)}: expected {form}") from exc
        except ValidationError as exc:
            raise ConfigError(_problems(cls, exc)) from exc
        return cls.model_validate(loaded.model_dump())


def _problems(cls: type[NerSettings], exc: ValidationError) -> str:
    """``threads (--threads, NER_THREADS): Input should be ...; ...`` on one line."""
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        name = loc[0] if loc else ""
        if name in cls.model_fields:
            where = f"{name} ({flag_name(name)}, {env_name(name)})" + "".join(f"[{p}]" for p in loc[1:])
        else:
            where = ".".join(loc) or "settings"
        problems.append(f"{where}: {err['msg']}".replace("\n", " "))
    return "invalid settings: " + "; ".join(problems)


class ModelSettings(NerSettings):
    """Which model and engine to run, and how to feed it."""

    model: str = Field(
        "rampart", description="Model name ('rampart', or 'rampart-int8': int8, built and cached on first use) "
                               "or a bundle directory.")
    engine: Literal["onnxruntime", "tensorrt"] = Field("onnxruntime", description="Inference runtime.")
    threads: int | None = Field(None, ge=1, description="Engine intra-op threads (default: all cores).")
    engine_batch_tokens: int = Field(
        4096, ge=16, description="Token budget per engine call (padded tokens, across documents; was max_batch_tokens)."
    )
    max_batch_size: int = Field(64, ge=1, description="Most sequences per engine call.")
    max_seq_len: int | None = Field(
        None, ge=8, description="Model window in tokens incl. special tokens (default: the model's)."
    )
    stride: int = Field(
        64, ge=0, description="Overlapping tokens between windows of a text longer than the model window."
    )
    max_text_chars: int = Field(
        100_000, ge=1, description="Longest accepted text in characters (HTTP: 413; Kafka: dead-lettered; CLI: an "
                                   "error; was max_chars)."
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
    ignore_labels: list[str] = Field(
        default_factory=list, description="Labels never reported, besides the default ones (O) unless "
                                          "--no-default-ignore.")
    default_ignore: bool = Field(True, description="Also ignore the default labels (O).")
    recall_thresholds: dict[str, float] = Field(
        default_factory=lambda: _recall_defaults(),
        description="Entity spans (Kafka, redaction, eval) only: a word joins an entity when the B-+I- probability of "
                    "the label (or group: NAME, ADDRESS) reaches this, not only on argmax; {} for argmax only. "
                    "/predict_tokens is not affected.",
    )

    @property
    def ignored(self) -> tuple[str, ...]:
        """The labels never reported: the defaults (``O``) unless ``default_ignore`` is off, plus
        ``ignore_labels`` (which add to the defaults rather than replace them)."""
        labels = [*(DEFAULT_IGNORE if self.default_ignore else ()), *self.ignore_labels]
        return tuple(dict.fromkeys(labels))


DEFAULT_IGNORE = ("O",)
