"""docker-compose.yml: the Compose Specification schema, then what the schema cannot see.

The schema (vendored in ``deploy/schemas/compose-spec.json``, see the README there) catches
misspelt keys and wrong types. ``docker compose up`` fails later, and at run time, on the rest,
so this module also checks: ``depends_on`` targets exist; ``service_healthy`` waits only on
services that define a health check; a service that is always started does not wait on one that
only a profile starts; named volumes are declared; bind-mounted and build paths exist; a
``ner-stage worker`` service stays scalable with ``--scale`` (no ``container_name``, no fixed host
port); and TensorRT services reserve an NVIDIA GPU behind a profile.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

from deploy.validate import jobs_db
from deploy.validate.containers import Container, interpolate
from deploy.validate.report import Problem, json_path, load_yaml_documents, rel

CHECK = "compose"
SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "compose-spec.json"


def _schema_problems(doc: dict, file: str) -> list[Problem]:
    import jsonschema

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return [Problem(CHECK, file, json_path(e.absolute_path), e.message) for e in errors]


def _depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return {name: (spec or {}) for name, spec in deps.items()}


def _has_healthcheck(service: dict, root: Path) -> bool:
    check = service.get("healthcheck")
    if check is not None:
        return not check.get("disable", False) and check.get("test") not in (["NONE"], "NONE")
    build = service.get("build")
    if isinstance(build, dict):  # an image we build declares HEALTHCHECK in its Dockerfile
        dockerfile = root / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        if dockerfile.is_file():
            return any(line.strip().upper().startswith("HEALTHCHECK") and "NONE" not in line.upper()
                       for line in dockerfile.read_text(encoding="utf-8").splitlines())
    return False


def _semantic_problems(doc: dict, file: str, root: Path) -> list[Problem]:
    problems: list[Problem] = []
    services: dict = doc.get("services") or {}
    declared_volumes = set((doc.get("volumes") or {}).keys())
    for name, service in services.items():
        where = f"services.{name}"
        for dep, spec in _depends_on(service).items():
            if dep not in services:
                problems.append(Problem(CHECK, file, f"{where}.depends_on", f"unknown service {dep!r}"))
                continue
            if spec.get("condition") == "service_healthy" and not _has_healthcheck(services[dep], root):
                problems.append(Problem(CHECK, file, f"{where}.depends_on.{dep}",
                                        f"waits for {dep!r} to be healthy but {dep!r} has no health check"))
            if not service.get("profiles") and services[dep].get("profiles") and spec.get("required", True):
                problems.append(Problem(CHECK, file, f"{where}.depends_on.{dep}",
                                        f"always-on service depends on {dep!r}, which only starts with profiles "
                                        f"{services[dep]['profiles']}"))
        for i, volume in enumerate(service.get("volumes") or []):
            if isinstance(volume, dict):
                source = volume.get("source")
            else:  # short syntax SOURCE:TARGET[:MODE]; a lone TARGET is an anonymous volume
                parts = str(volume).split(":")
                source = parts[0] if len(parts) > 1 else None
            if not source:
                continue
            if source.startswith((".", "/", "~")):
                if source.startswith(".") and not (root / source).exists():
                    problems.append(Problem(CHECK, file, f"{where}.volumes[{i}]",
                                            f"bind mount {source} does not exist"))
            elif source not in declared_volumes:
                problems.append(Problem(CHECK, file, f"{where}.volumes[{i}]",
                                        f"named volume {source!r} is not declared under top-level volumes"))
        build = service.get("build")
        if isinstance(build, dict) and build.get("dockerfile"):
            dockerfile = root / build.get("context", ".") / build["dockerfile"]
            if not dockerfile.is_file():
                problems.append(Problem(CHECK, file, f"{where}.build.dockerfile", f"{rel(dockerfile, root)} not found"))
    return problems


def _scalable_problems(containers: list[Container], services: dict, file: str) -> list[Problem]:
    problems = []
    for container in containers:
        if container.subcommand != "worker":
            continue
        service = services[container.name]
        if "container_name" in service:
            problems.append(Problem(CHECK, file, f"services.{container.name}.container_name",
                                    "a worker service must not fix container_name: `--scale` needs unique names"))
        for port in service.get("ports") or []:
            published = port.get("published") if isinstance(port, dict) else (
                str(port).rsplit(":", 1)[0] if ":" in str(port) else None)
            if published:
                problems.append(Problem(CHECK, file, f"services.{container.name}.ports",
                                        f"a worker service must not publish host port {published}: "
                                        "`--scale` would start replicas that collide on it"))
    return problems


def _wants_gpu(service: dict) -> bool:
    build = service.get("build")
    dockerfile = build.get("dockerfile", "") if isinstance(build, dict) else ""
    engine = _environment(service).get("NER_ENGINE")
    return dockerfile.endswith("Dockerfile.gpu") or engine == "tensorrt"


def _gpu_problems(services: dict, file: str) -> list[Problem]:
    """A TensorRT service reserves an NVIDIA GPU, and only starts with a profile (CPU hosts stay up)."""
    problems = []
    for name, service in services.items():
        if not _wants_gpu(service):
            continue
        devices = (((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices")
        if not any("gpu" in (d.get("capabilities") or []) for d in devices or []):
            problems.append(Problem(CHECK, file, f"services.{name}.deploy",
                                    "a TensorRT service must reserve a GPU (deploy.resources.reservations.devices "
                                    "with capabilities [gpu])"))
        if not service.get("profiles"):
            problems.append(Problem(CHECK, file, f"services.{name}.profiles",
                                    "a TensorRT service must sit behind a profile, or `docker compose up` fails "
                                    "on hosts without a GPU"))
    return problems


def _is_ner_stage(service: dict) -> bool:
    build = service.get("build")
    dockerfile = build.get("dockerfile", "") if isinstance(build, dict) else ""
    image = str(service.get("image", ""))
    return "deploy/Dockerfile" in dockerfile or image.split("/")[-1].startswith("ner-stage")


def _environment(service: dict) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {p[0]: (interpolate(p[1]) if len(p) > 1 else None) for p in pairs}
    return {k: (None if v is None else interpolate(str(v))) for k, v in env.items()}


def containers(doc: dict, file: str) -> Iterator[Container]:
    """The compose services that run the ner-stage image, as command line + environment."""
    for name, service in (doc.get("services") or {}).items():
        if not _is_ner_stage(service):
            continue
        entrypoint = service.get("entrypoint")
        command = service.get("command") or []
        args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        if entrypoint is not None:
            entry = shlex.split(entrypoint) if isinstance(entrypoint, str) else [str(a) for a in entrypoint]
            if not entry or Path(entry[0]).name != "ner-stage":
                continue  # not running the CLI (e.g. a shell); nothing to check against it
            args = entry[1:] + args
        yield Container(
            source=file, where=f"services.{name}", name=name,
            args=[interpolate(a) for a in args], env=_environment(service),
        )


def load(path: Path, root: Path) -> tuple[dict | None, list[Problem]]:
    docs, problems = load_yaml_documents(path, root, CHECK)
    if problems:
        return None, problems
    if len(docs) != 1:
        return None, [Problem(CHECK, rel(path, root), "", "expected exactly one YAML document")]
    return docs[0], []


def check(path: Path, root: Path) -> tuple[list[Problem], list[Container]]:
    """Validate one compose file; also return its ner-stage containers for the settings/CLI checks."""
    file = rel(path, root)
    doc, problems = load(path, root)
    if doc is None:
        return problems, []
    problems = _schema_problems(doc, file)
    if problems:  # semantic checks assume the schema's shapes
        return problems, []
    found = list(containers(doc, file))
    problems += _semantic_problems(doc, file, root)
    problems += _scalable_problems(found, doc.get("services") or {}, file)
    problems += _gpu_problems(doc.get("services") or {}, file)
    problems += jobs_db.compose_problems(doc, file, found)
    return problems, found
