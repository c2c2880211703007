"""The workbench (``pipeline.devtools``) stays out of the product: the wheel leaves it out, and the
runtime commands work where it cannot be imported, as in a worker pod's ``pip install .``."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parents[2]

#: Runs with ``pipeline.devtools`` unimportable (what a wheel install sees) and prints what it saw.
WITHOUT_DEVTOOLS = r"""
import importlib.abc, json, sys

class NoWorkbench(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "pipeline.devtools" or name.startswith("pipeline.devtools."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoWorkbench())
from click.testing import CliRunner

from pipeline.cli.main import cli
from pipeline.config import known_setting_names

seen = {}
for argv in (["--help"], ["worker", "--help"], ["serve", "--help"], ["run", "--help"]):
    result = CliRunner().invoke(cli, argv, terminal_width=200)
    seen[" ".join(argv)] = {"code": result.exit_code, "output": result.output}
import pipeline.http.app, pipeline.kafka.worker, pipeline.kafka.supervisor, pipeline.service  # noqa: E401,F401
seen["setting names"] = sorted(known_setting_names())
seen["modules"] = sorted(m for m in sys.modules if m.startswith("pipeline.devtools"))
print(json.dumps(seen))
"""


def _commands(help_text: str) -> set[str]:
    """The command names listed by a group's ``--help`` (the first word of each indented row)."""
    after = help_text.split("Commands:", 1)[1]
    return {line.split()[0] for line in after.splitlines() if line.startswith("  ") and line.split()}


def test_runtime_commands_work_without_the_workbench_and_the_cli_lists_only_them():
    done = subprocess.run([sys.executable, "-c", WITHOUT_DEVTOOLS], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    root = seen["--help"]
    assert root["code"] == 0, root["output"]
    listed = _commands(root["output"])
    assert {"worker", "serve", "predict", "topics"} <= listed
    assert not listed & {"run", "broker", "bench"} and "Development commands" not in root["output"]
    for command, flag in (("worker", "--input"), ("serve", "--port")):
        assert seen[f"{command} --help"]["code"] == 0, seen[f"{command} --help"]["output"]
        assert flag in seen[f"{command} --help"]["output"]
    assert seen["run --help"]["code"] == 2 and "No such command 'run'" in seen["run --help"]["output"]
    # a config file's keys are still checked: the worker's known, the workbench's not loaded
    assert "input" in seen["setting names"] and "broker_port" not in seen["setting names"]
    assert seen["modules"] == []


def test_with_the_workbench_installed_its_commands_are_listed_in_their_own_section():
    from click.testing import CliRunner

    from pipeline.cli.main import cli

    result = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    runtime, _, workbench = result.output.partition("Development commands (pipeline.devtools):")
    assert {"run", "broker", "bench"} == {line.split()[0] for line in workbench.splitlines() if line.strip()}
    assert not _commands(runtime) & {"run", "broker", "bench"}


def test_the_wheel_leaves_the_workbench_out_and_keeps_every_runtime_package():
    """What ``pip install .`` packs: pyproject's package discovery, as setuptools runs it."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packed = set(find_namespace_packages(str(ROOT), include=find["include"], exclude=find.get("exclude", ())))
    assert not {p for p in packed if p.startswith("pipeline.devtools")}
    found = [path.parent.relative_to(ROOT).parts for top in ("pipeline", "engines", "schemas")
             for path in (ROOT / top).rglob("__init__.py")]
    runtime = {".".join(parts) for parts in found if parts[:2] != ("pipeline", "devtools")}
    assert runtime and runtime <= packed
