"""A container that runs ``ner-stage``, as the compose file or a Kubernetes manifest describes it.

Compose services and Kubernetes containers are reduced to the same two things, the ``ner-stage``
arguments and the environment, so the settings and CLI checks are written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+]([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: str) -> str:
    """Compose-style ``${VAR:-default}`` resolved to its default (the value CI can know).

    ``$$`` stays a literal ``$``; a variable without a default becomes the empty string, which
    the settings check then treats as "unknown value" rather than as a value to validate.
    """
    escaped = value.replace("$$", "\0")
    resolved = _INTERPOLATION.sub(lambda m: m.group(2) or "", escaped)
    return resolved.replace("\0", "$")


@dataclass
class Container:
    """``ner-stage`` arguments and environment of one service/container.

    ``env`` maps a variable name to its value, or to None where the value is not known to the
    validator (a Secret, a fieldRef, an unset compose variable): such names are still checked
    against the settings, their values are not.
    """

    source: str
    where: str
    name: str
    args: list[str]
    env: dict[str, str | None] = field(default_factory=dict)

    @property
    def subcommand(self) -> str | None:
        return self.args[0] if self.args else None

    def flag_value(self, flag: str) -> str | None:
        """Value of ``--flag VALUE`` or ``--flag=VALUE`` in the arguments, if given."""
        for i, arg in enumerate(self.args):
            if arg == flag and i + 1 < len(self.args):
                return self.args[i + 1]
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
        return None
