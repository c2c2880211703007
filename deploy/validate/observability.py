"""Prometheus config, alert rules and the Grafana dashboard, kept in sync with the code's metrics.

The metric names are read from the code, not from a list kept here: every ``Counter``,
``Gauge``, ``Histogram``, ``Summary``, ``Info`` or ``Enum`` built with a literal name in a module
that imports ``prometheus_client`` (``pipeline/http/metrics.py``, the Kafka worker's metrics, ...).
Then:

* every metric name with the stage's prefix in a PromQL expression (alerts, dashboard panels) is
  one the code exports, with the right suffix (``_total``, ``_bucket``, ...): a renamed metric
  breaks CI instead of silently emptying a panel or disarming an alert;
* every exported metric has a dashboard panel and a line in docs/OPERATIONS.md, and every alert
  is explained there (the runbook an on-call engineer opens);
* the Prometheus config loads the alert file and every alert has a severity and a summary.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from deploy.validate.report import Problem, load_yaml_documents, rel

CHECK = "observability"
METRIC_PREFIX = "ner_"
_CONSTRUCTORS = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}
_SUFFIXES = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
    "Info": ("_info",),
    "Enum": ("",),
}
_SEVERITIES = ("critical", "warning", "info")
_PROMQL_DROP = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|\{[^}]*\}|\[[^\]]*\]'
                          r'|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)')
_IDENT = re.compile(r"(?<![\w:$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")


def exported_metrics(code_dir: Path) -> dict[str, str]:
    """Metric family name -> type, for every literal-named prometheus_client metric under code_dir."""
    families: dict[str, str] = {}
    for path in sorted(code_dir.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "prometheus_client" not in source:
            continue
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if func not in _CONSTRUCTORS:
                continue
            kwargs = {k.arg: k.value for k in node.keywords if k.arg}
            name_node = node.args[0] if node.args else kwargs.get("name")
            if not (isinstance(name_node, ast.Constant) and isinstance(name_node.value, str)):
                continue
            parts = [kwargs[k].value for k in ("namespace", "subsystem")
                     if isinstance(kwargs.get(k), ast.Constant) and kwargs[k].value]
            name = "_".join([*parts, name_node.value])
            if func == "Counter" and name.endswith("_total"):
                name = name[: -len("_total")]
            families[name] = func
    return families


def series_names(families: dict[str, str]) -> set[str]:
    return {name + suffix for name, kind in families.items() for suffix in _SUFFIXES[kind]}


def promql_metrics(expr: str) -> set[str]:
    """Metric names used in a PromQL expression (label matchers, strings, ranges and groupings removed)."""
    from_keywords = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                     "group_left", "group_right", "inf", "nan"}
    stripped = _PROMQL_DROP.sub(" ", expr)
    return {m for m in _IDENT.findall(stripped) if m.lower() not in from_keywords}


def _expr_problems(expr: str, known: set[str], file: str, where: str) -> list[Problem]:
    used = promql_metrics(expr)
    unknown = sorted(m for m in used if m.startswith(METRIC_PREFIX) and m not in known)
    problems = [Problem(CHECK, file, where, f"metric {m!r} is not exported by the code") for m in unknown]
    if not used:
        problems.append(Problem(CHECK, file, where, f"expression {expr!r} uses no metric"))
    return problems


def _dashboard(path: Path, root: Path, known: set[str]) -> tuple[list[Problem], set[str]]:
    file = rel(path, root)
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [Problem(CHECK, file, "", f"cannot parse JSON: {exc}")], set()
    problems, used, ids = [], set(), set()
    panels = list(board.get("panels") or [])
    for panel in list(panels):
        panels += panel.get("panels") or []  # collapsed rows hold their panels
    for panel in panels:
        where = f"panel {panel.get('id')} {panel.get('title', '')!r}"
        if panel.get("type") == "row":
            continue
        if panel.get("id") in ids:
            problems.append(Problem(CHECK, file, where, "duplicate panel id"))
        ids.add(panel.get("id"))
        targets = panel.get("targets") or []
        if not targets:
            problems.append(Problem(CHECK, file, where, "panel has no query"))
        for target in targets:
            expr = target.get("expr", "")
            problems += _expr_problems(expr, known, file, where)
            used |= promql_metrics(expr)
    return problems, used


def _alerts(path: Path, root: Path, known: set[str]) -> tuple[list[Problem], list[str]]:
    file = rel(path, root)
    docs, problems = load_yaml_documents(path, root, CHECK)
    names: list[str] = []
    for doc in docs:
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                name = rule.get("alert") or rule.get("record")
                where = f"group {group.get('name')!r} rule {name!r}"
                if not name or "expr" not in rule:
                    problems.append(Problem(CHECK, file, where, "a rule needs alert (or record) and expr"))
                    continue
                problems += _expr_problems(str(rule["expr"]), known, file, where)
                if "alert" in rule:
                    names.append(name)
                    if (rule.get("labels") or {}).get("severity") not in _SEVERITIES:
                        problems.append(Problem(CHECK, file, where, f"labels.severity must be one of {_SEVERITIES}"))
                    if not (rule.get("annotations") or {}).get("summary"):
                        problems.append(Problem(CHECK, file, where, "annotations.summary is missing"))
    if not names:
        problems.append(Problem(CHECK, file, "", "no alerts defined"))
    return problems, names


def _prometheus(path: Path, root: Path) -> tuple[list[Problem], list[Path]]:
    file = rel(path, root)
    docs, problems = load_yaml_documents(path, root, CHECK)
    if problems or not docs:
        return problems or [Problem(CHECK, file, "", "empty config")], []
    config = docs[0]
    rule_files = [path.parent / str(f) for f in config.get("rule_files") or []]
    problems += [Problem(CHECK, file, "rule_files", f"{rel(f, root)} does not exist") for f in rule_files
                 if not f.is_file()]
    jobs = [job.get("job_name") for job in config.get("scrape_configs") or []]
    problems += [Problem(CHECK, file, "scrape_configs", f"duplicate job_name {j!r}") for j in set(jobs)
                 if jobs.count(j) > 1]
    if not rule_files:
        problems.append(Problem(CHECK, file, "rule_files", "no alert rules loaded"))
    return problems, [f for f in rule_files if f.is_file()]


def check(root: Path, code_dir: Path, prometheus: Path, dashboard: Path, operations: Path) -> list[Problem]:
    families = exported_metrics(code_dir)
    known = series_names(families)
    problems, rule_files = _prometheus(prometheus, root)
    alert_names: list[str] = []
    for rule_file in rule_files:
        found, names = _alerts(rule_file, root, known)
        problems += found
        alert_names += names
    found, used = _dashboard(dashboard, root, known)
    problems += found
    board = rel(dashboard, root)
    for family, kind in sorted(families.items()):
        if not any(family + suffix in used for suffix in _SUFFIXES[kind]):
            problems.append(Problem(CHECK, board, "", f"exported metric {family!r} has no panel"))
    docs_text = operations.read_text(encoding="utf-8") if operations.is_file() else ""
    doc_file = rel(operations, root)
    problems += [Problem(CHECK, doc_file, "", f"metric {f!r} is not explained") for f in sorted(families)
                 if f not in docs_text]
    problems += [Problem(CHECK, doc_file, "", f"alert {a!r} is not explained") for a in alert_names
                 if a not in docs_text]
    return problems
