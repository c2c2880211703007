"""Command-line flags generated from settings classes, so each setting has exactly one flag, one
``NER_*`` variable and one help text (its pydantic ``description``), and they cannot drift apart.

``settings_options(Settings)`` adds one click option per field: ``foo_bar`` -> ``--foo-bar``
(booleans ``--foo-bar/--no-foo-bar``; ``Literal`` a choice; lists comma-separated; mappings a
JSON object). Secrets (``SecretStr`` fields) get no flag: flags show up in ``ps``; they are read
from the environment or the config file only. ``settings_from(Settings, kwargs)`` pops those
flags out of a command's kwargs and resolves them with env and file (flag > env > file > default).

Fields of the same name in two classes of one command (``max_text_chars`` in the model and the
HTTP or Kafka settings) are one concept: they get one flag, and every class reads its value. A
renamed setting (``pipeline.config.RENAMED``) keeps its old flag, hidden, with a warning.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import click
from pydantic import SecretStr
from pydantic_settings import NoDecode

from pipeline.config import RENAMED, ModelSettings, NerSettings, env_name, flag_name, warn_deprecated

S = TypeVar("S", bound=NerSettings)


def _apply(options: list[Callable]) -> Callable:
    def decorator(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func

    return decorator


def _bare(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _bare(args[0])
    return annotation


def _is_secret(annotation: Any) -> bool:
    return "SecretStr" in repr(annotation) or annotation is SecretStr


def _kind(field) -> str:
    """How a field travels on the command line: bool, list, mapping, or scalar."""
    bare = _bare(field.annotation)
    origin = typing.get_origin(bare)
    if bare is bool:
        return "bool"
    if any(isinstance(m, NoDecode) or m is NoDecode for m in field.metadata):
        return "raw"  # the settings class parses the string itself
    if origin is list or bare is list:
        return "list"
    if origin is dict or bare is dict:
        return "mapping"
    return "scalar"


def _click_type(annotation: Any) -> Any:
    bare = _bare(annotation)
    if typing.get_origin(bare) is Literal:
        return click.Choice([str(a) for a in typing.get_args(bare)])
    if bare in (int, float):
        return bare
    if bare is Path:
        return click.Path()
    return str


def _default_text(field) -> str:
    default = field.get_default(call_default_factory=True)
    if default is None or default == "":
        return "off"
    if isinstance(default, list):
        return ",".join(map(str, default)) or "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    return json.dumps(default) if isinstance(default, dict) else str(default)


def settings_options(cls: type[NerSettings], *, exclude: Iterable[str] = (), only: Iterable[str] | None = None,
                     multi: Iterable[str] = (), aliases: Mapping[str, str] | None = None) -> Callable:
    """One click option per field of ``cls`` (secrets and ``exclude`` left out; ``only`` keeps
    just those; a field whose flag the command already has is shared, not repeated); ``multi``
    fields are repeatable ``KEY=VALUE`` options; ``aliases`` adds a second flag name for a field
    (kept for flags that were spelled differently before)."""

    def decorator(func: Callable) -> Callable:
        present = {p.name for p in getattr(func, "__click_params__", ())}
        return _apply(_options(cls, exclude, only, multi, aliases, present))(func)

    return decorator


def _options(cls, exclude, only, multi, aliases, present: set[str]) -> list[Callable]:
    skip, keep, repeat, alias = set(exclude), set(only) if only is not None else None, set(multi), aliases or {}
    renamed_from = {new: old for old, new in RENAMED.items()}
    options = []
    for name, field in cls.model_fields.items():
        if (name in skip or name in present or (keep is not None and name not in keep)
                or _is_secret(field.annotation)):
            continue
        flag, env = flag_name(name), env_name(name)
        extra = [f"--{alias[name]}"] if name in alias else []
        kind = _kind(field)
        description = (field.description or name).rstrip(".")
        if name in renamed_from:  # the old flag, hidden: it still works, with a warning
            old = renamed_from[name]
            options.append(click.option(flag_name(old), old, type=_click_type(field.annotation), default=None,
                                        hidden=True, expose_value=True))
        if name in repeat:
            options.append(click.option(flag, *extra, name, multiple=True, metavar="KEY=VALUE",
                                        help=f"{description}. Repeatable. [{env} as a JSON object]"))
            continue
        shown = "" if "(default" in description else f" (default {_default_text(field)})"
        help_text = f"{description}{shown}. [{env}]"
        if kind == "bool":
            decls = [f"{flag}/--no-{flag[2:]}", *(f"{e}/--no-{e[2:]}" for e in extra)]
            options.append(click.option(*decls, name, default=None, help=help_text))
        elif kind == "list":
            options.append(click.option(flag, *extra, name, default=None, metavar="A,B,...",
                                        help=f"{description}, comma-separated (default {_default_text(field)}). "
                                             f"[{env} as a JSON list]"))
        elif kind == "mapping":
            options.append(click.option(flag, *extra, name, default=None, metavar="JSON",
                                        help=f"{description}, a JSON object (default {_default_text(field)}). "
                                             f"[{env}]"))
        else:
            options.append(click.option(flag, *extra, name, type=_click_type(field.annotation), default=None,
                                        help=help_text))
    return options


def _pairs(name: str, pairs: tuple[str, ...]) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--" + name.replace("_", "-"))
        out[key.strip()] = value
    return out


def flag_values(cls: type[NerSettings], kwargs: dict[str, Any]) -> dict[str, Any]:
    """``cls``' flags in ``kwargs``, converted to what the settings class takes. They stay in
    ``kwargs``: another settings class of the command may share a field of the same name."""
    values: dict[str, Any] = {}
    for old, new in RENAMED.items():
        if new in cls.model_fields and kwargs.get(old) is not None:
            warn_deprecated(flag_name(old), flag_name(new))
            if kwargs.get(new) is None:
                kwargs[new] = kwargs[old]
    for name, field in cls.model_fields.items():
        if name not in kwargs:
            continue
        value = kwargs[name]
        if isinstance(value, tuple):  # a repeatable KEY=VALUE option
            value = _pairs(name, value)
        elif value is not None and _kind(field) == "list":
            value = [part.strip() for part in value.split(",") if part.strip()]
        elif value is not None and _kind(field) == "mapping":
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise click.BadParameter(f"expected a JSON object ({exc.msg})", param_hint=flag_name(name)) from exc
        values[name] = value
    return values


def settings_from(cls: type[S], kwargs: dict[str, Any], **fixed: Any) -> S:
    """Settings of ``cls`` from the command's flags (popped from ``kwargs``), env and file;
    ``fixed`` values win over flags (e.g. a command that forces one engine)."""
    values = {**flag_values(cls, kwargs), **{k: v for k, v in fixed.items() if v is not None}}
    return cls.load(kwargs.get("config_file"), **values)


def as_flags(cls: type[NerSettings], values: Mapping[str, Any]) -> list[str]:
    """The command-line flags that set ``values`` (the inverse of :func:`flag_values`), to start
    another command with the same settings (``run`` starts ``serve``; benchmarks start servers)."""
    flags = []
    for name, value in values.items():
        field = cls.model_fields.get(name)
        if field is None or value is None or _is_secret(field.annotation):
            continue
        flag = "--" + name.replace("_", "-")
        kind = _kind(field)
        if kind == "bool":
            flags.append(flag if value else f"--no-{flag[2:]}")
        elif kind == "list":
            flags.append(f"{flag}={','.join(map(str, value))}")
        elif kind == "mapping":
            flags.append(f"{flag}={json.dumps(value)}")
        else:
            flags.append(f"{flag}={value}")
    return flags


config_option = click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False),
    help="Settings file (YAML/TOML/JSON, flat keys). Also NER_CONFIG.",
)

#: Every ModelSettings field as a flag, plus --config.
model_options = _apply([settings_options(ModelSettings), config_option])


def model_settings(kwargs: dict[str, Any]) -> ModelSettings:
    """Pop the model flags out of a command's kwargs and resolve them with env and file."""
    return settings_from(ModelSettings, kwargs)
