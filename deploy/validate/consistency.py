"""Manifests against the code: every ``NER_*`` variable is a real setting, every command a real CLI.

A typo in an environment variable name is silently ignored by pydantic-settings (``extra =
"ignore"``), and a renamed flag only fails when the container starts. Both are caught here by
introspecting the code itself, never a copied list of names:

* settings: every :class:`~pipeline.config.NerSettings` subclass defined in the modules the
  container's sub-command reads (``pipeline.config`` always, ``pipeline.kafka.settings`` for
  ``worker``, ``pipeline.http.settings`` for ``serve``, ``pipeline.redact.settings`` when present).
  Known values are validated with the field's own type and constraints, as the env source would;
* commands: the click command behind ``ner-stage <sub-command>`` parses the arguments, so unknown
  flags, missing option values and out-of-range choices fail.
"""

from __future__ import annotations

import importlib
import inspect
from functools import cache

import click

from deploy.validate.containers import Container
from deploy.validate.errors import DeployCheckError
from deploy.validate.report import Problem

CHECK = "settings"
CLI_CHECK = "cli"
COMMON_MODULES = ("pipeline.config",)
OPTIONAL_MODULES = ("pipeline.redact.settings",)
#: sub-command -> settings modules it reads besides the common ones
COMPONENT_MODULES: dict[str, tuple[str, ...]] = {
    "worker": ("pipeline.kafka.settings",),
    "serve": ("pipeline.http.settings",),
    "run": ("pipeline.kafka.settings", "pipeline.http.settings"),
}
#: arguments the image runs when a service gives none (deploy/Dockerfile CMD)
IMAGE_DEFAULT_ARGS = ("serve",)


def _import(name: str, optional: bool):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if optional and exc.name in (name, name.rsplit(".", 1)[0]):
            return None
        raise DeployCheckError(f"cannot import settings module {name}: {exc}") from exc


@cache
def settings_classes(subcommand: str) -> tuple[type, ...]:
    """The settings classes a sub-command reads, found by importing their modules."""
    from pipeline.config import NerSettings

    names = [(m, False) for m in COMMON_MODULES + COMPONENT_MODULES.get(subcommand, ())]
    names += [(m, True) for m in OPTIONAL_MODULES]
    classes = []
    for name, optional in names:
        module = _import(name, optional)
        if module is None:
            continue
        classes += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                    if issubclass(cls, NerSettings) and cls is not NerSettings and cls.__module__ == name]
    return tuple(classes)


def env_names(cls) -> dict[str, str]:
    """``NER_FOO_BAR`` -> ``foo_bar`` for one settings class, as pydantic-settings spells them."""
    config = cls.model_config
    prefix = config.get("env_prefix", "")
    names = {}
    for field_name, info in cls.model_fields.items():
        alias = info.validation_alias if isinstance(info.validation_alias, str) else None
        names[(alias or prefix + field_name).upper()] = field_name
    return names


def _owners(var: str, classes: tuple[type, ...]) -> list[tuple[type, str]]:
    """Every (settings class, field) that reads ``var``: each parses the value, so each must accept it."""
    upper, found = var.upper(), []
    for cls in classes:
        names = env_names(cls)
        delimiter = cls.model_config.get("env_nested_delimiter") or None
        if upper in names:
            found.append((cls, names[upper]))
        elif delimiter and delimiter in upper and upper.split(delimiter, 1)[0] in names:
            found.append((cls, names[upper.split(delimiter, 1)[0]]))
    return found


def _value_problem(cls, var: str, value: str) -> str | None:
    """Parse ``var=value`` exactly as the settings' env source does, then validate that field only."""
    from pydantic import ValidationError
    from pydantic_settings import EnvSettingsSource
    from pydantic_settings.exceptions import SettingsError

    class _GivenEnv(EnvSettingsSource):
        def _load_env_vars(self):  # the given variables instead of os.environ
            return {var.lower(): value}

    try:
        parsed = _GivenEnv(cls)()
        for field_name, field_value in parsed.items():
            cls.__pydantic_validator__.validate_assignment(cls.model_construct(), field_name, field_value)
    except ValidationError as exc:
        return "; ".join(err["msg"] for err in exc.errors())
    except (SettingsError, ValueError) as exc:
        return str(exc)
    return None


def check_settings(container: Container) -> list[Problem]:
    from pipeline.config import CONFIG_ENV

    subcommand = container.subcommand or IMAGE_DEFAULT_ARGS[0]
    classes = settings_classes(subcommand)
    problems = []
    for var, value in container.env.items():
        if not var.upper().startswith("NER_") or var.upper() == CONFIG_ENV:
            continue
        where = f"{container.where}.env.{var}"
        owners = _owners(var, classes)
        if not owners:
            known = ", ".join(cls.__name__ for cls in classes)
            problems.append(Problem(CHECK, container.source, where,
                                    f"`ner-stage {subcommand}` has no setting {var} (looked in {known})"))
            continue
        for cls, field_name in owners if value else ():  # None/empty (a Secret, an unset variable): name only
            message = _value_problem(cls, var, value)
            if message:
                problems.append(Problem(CHECK, container.source, where,
                                        f"invalid value {value!r} for {cls.__name__}.{field_name}: {message}"))
    return problems


def _cli_command(name: str) -> click.Command | None:
    from pipeline.cli.main import cli

    return cli.get_command(click.Context(cli, info_name="ner-stage"), name)


def check_cli(container: Container) -> list[Problem]:
    """Parse the container's arguments with the real click command (no callbacks, no side effects)."""
    args = container.args or list(IMAGE_DEFAULT_ARGS)
    where = f"{container.where}.command"
    subcommand, rest = args[0], args[1:]
    try:
        command = _cli_command(subcommand)
    except ImportError as exc:  # listed in the command table but its module is missing or broken
        return [Problem(CLI_CHECK, container.source, where, f"`ner-stage {subcommand}` cannot be imported: {exc}")]
    if command is None:
        return [Problem(CLI_CHECK, container.source, where, f"`ner-stage {subcommand}` is not a command")]
    ctx = click.Context(command, info_name=subcommand)
    try:
        values, _, _ = command.make_parser(ctx).parse_args(list(rest))
        for param in command.params:
            value = values.get(param.name)
            if value is None or isinstance(param.type, click.Path | click.File):
                continue  # paths exist inside the image, not here
            if param.multiple or param.nargs != 1:
                for item in value:
                    param.type.convert(item, param, ctx)
            else:
                param.type.convert(value, param, ctx)
    except click.UsageError as exc:  # NoSuchOption, BadOptionUsage, BadParameter
        return [Problem(CLI_CHECK, container.source, where, f"`ner-stage {' '.join(args)}`: {exc.format_message()}")]
    return []


def check(containers: list[Container]) -> list[Problem]:
    problems: list[Problem] = []
    for container in containers:
        problems += check_cli(container)
        problems += check_settings(container)
    return problems
