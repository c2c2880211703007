"""Offline validation of everything under ``deploy/`` and of ``docker-compose.yml``.

Runs in CI with neither Docker nor a cluster (``python -m deploy.validate``, and the tests in
``tests/unit/deploy/``), so a broken manifest fails the pull request instead of the rollout:

* :mod:`.compose`        docker-compose.yml against the Compose Specification schema + references
* :mod:`.kubernetes`     deploy/k8s/*.yaml against Kubernetes' and KEDA's API schemas + references
* :mod:`.dockerfile`     deploy/Dockerfile* with hadolint and the image policy
* :mod:`.jobs_db`        the API's job store is a shared PostgreSQL, its DSN from a Secret (run by
                         the compose and Kubernetes checks)
* :mod:`.consistency`    every NER_* variable (compose, manifests, image ENV) is a setting, every
                         command line parses with the CLI
* :mod:`.observability`  alerts and dashboard use only metrics the code exports, all documented

Each checker returns :class:`~deploy.validate.report.Problem` objects; an empty list means valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deploy.validate import compose, consistency, dockerfile, kubernetes, observability
from deploy.validate.report import Problem

__all__ = ["Layout", "Problem", "validate_all"]


@dataclass(frozen=True)
class Layout:
    """Where the checked files are, relative to a project root (tests point it at broken copies)."""

    root: Path

    @property
    def compose_file(self) -> Path:
        return self.root / "docker-compose.yml"

    @property
    def k8s_dir(self) -> Path:
        return self.root / "deploy" / "k8s"

    @property
    def dockerfiles(self) -> list[Path]:
        return sorted(p for p in (self.root / "deploy").glob("Dockerfile*") if p.suffix != ".dockerignore")

    @property
    def prometheus(self) -> Path:
        return self.root / "deploy" / "prometheus" / "prometheus.yml"

    @property
    def dashboard(self) -> Path:
        return self.root / "deploy" / "grafana" / "ner-stage-dashboard.json"

    @property
    def operations(self) -> Path:
        return self.root / "docs" / "OPERATIONS.md"

    @property
    def code_dir(self) -> Path:
        return self.root / "pipeline"


def validate_all(root: Path) -> list[Problem]:
    """Every check on the tree at ``root``; the settings/CLI checks use the importable code."""
    layout = Layout(Path(root))
    problems, containers = compose.check(layout.compose_file, layout.root)
    found, more = kubernetes.check(layout.k8s_dir, layout.root)
    problems += found
    images = dockerfile.containers(layout.dockerfiles, layout.root)
    problems += consistency.check(containers + more + images)
    problems += dockerfile.check(layout.dockerfiles, layout.root)
    problems += observability.check(layout.root, layout.code_dir, layout.prometheus, layout.dashboard,
                                    layout.operations)
    return problems
