"""The API's job store in the manifests: PostgreSQL, reachable, and its DSN kept secret.

Replicas of ``ner-stage serve`` share async jobs only through PostgreSQL (``NER_JOBS_DB=
postgresql://...``); with the SQLite default each pod would have its own queue, a job would be
a 404 on every other replica, and the read-only root filesystem would refuse the file anyway.
What breaks at run time, checked here instead:

* compose: every ``serve`` service uses a ``postgresql://`` DSN; when its host is a service of
  the same file, the API waits for it to be healthy and the DSN's user, password and database
  are the ones that service creates (``POSTGRES_USER``/``_PASSWORD``/``_DB``);
* Kubernetes: every ``serve`` Deployment takes ``NER_JOBS_DB`` from a Secret (a DSN carries a
  password, so never a ConfigMap or a literal), and the Secret's value, when the manifests hold
  one, is a ``postgresql://`` DSN.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote, urlsplit

from deploy.validate.containers import Container, interpolate
from deploy.validate.report import Problem

CHECK = "jobs-db"
VAR = "NER_JOBS_DB"
_SCHEMES = ("postgresql", "postgres")


def _dsn(container: Container) -> str | None:
    return container.env.get(VAR) or container.flag_value("--jobs-db")


def _not_postgres(value: str | None) -> str | None:
    if not value:
        return (f"{VAR} is not set: the API would keep jobs in a local SQLite file, so replicas would not "
                "share them; set a postgresql:// DSN")
    if urlsplit(value).scheme not in _SCHEMES:
        return (f"{VAR} {value!r} is not a postgresql:// DSN: with SQLite every replica has its own jobs "
                "(a 404 on the others, lost with the pod)")
    return None


def compose_problems(doc: dict, file: str, containers: list[Container]) -> list[Problem]:
    services = doc.get("services") or {}
    problems = []
    for container in (c for c in containers if c.subcommand == "serve"):
        where = f"{container.where}.environment.{VAR}"
        value = _dsn(container)
        message = _not_postgres(value)
        if message:
            problems.append(Problem(CHECK, file, where, message))
            continue
        dsn = urlsplit(value)
        database = services.get(dsn.hostname or "")
        if database is None:
            continue  # an external database: nothing in this file to compare with
        depends = (services[container.name].get("depends_on") or {})
        condition = (depends.get(dsn.hostname) or {}).get("condition") if isinstance(depends, dict) else None
        if condition != "service_healthy":
            problems.append(Problem(CHECK, file, f"{container.where}.depends_on",
                                    f"the API must wait for {dsn.hostname!r} to be healthy (its job store)"))
        env = database.get("environment") or {}
        env = dict(item.split("=", 1) for item in env) if isinstance(env, list) else env
        wanted = {"POSTGRES_USER": unquote(dsn.username or ""), "POSTGRES_PASSWORD": unquote(dsn.password or ""),
                  "POSTGRES_DB": dsn.path.lstrip("/")}
        for var, have in wanted.items():
            if var in env and interpolate(str(env[var])) != have:
                problems.append(Problem(CHECK, file, where,
                                        f"the DSN's {var.split('_', 1)[1].lower()} differs from service "
                                        f"{dsn.hostname!r}'s {var}"))
    return problems


def _secret_value(manifest, key: str) -> str | None:
    doc = manifest.doc
    if key in (doc.get("stringData") or {}):
        return str(doc["stringData"][key])
    raw = (doc.get("data") or {}).get(key)
    try:
        return base64.b64decode(raw).decode() if raw is not None else None
    except (binascii.Error, UnicodeDecodeError):
        return None


def kubernetes_problems(manifests: list, containers: list[Container]) -> list[Problem]:
    """``manifests`` are :class:`deploy.validate.kubernetes.Manifest` objects."""
    index = {(m.kind, m.name): m for m in manifests}
    serving = {c.name for c in containers if c.subcommand == "serve"}
    problems = []

    def problem(deployment, path: str, message: str) -> None:
        problems.append(Problem(CHECK, deployment.file, f"{deployment.where}.{path}", message))

    for deployment in (m for m in manifests if m.kind == "Deployment" and m.name in serving):
        spec = ((deployment.doc.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c, container in enumerate(spec.get("containers") or []):
            path = f"spec.template.spec.containers[{c}]"
            source = _jobs_db_source(container, index)
            if source is None:
                problem(deployment, path, _not_postgres(None))
            elif source[0] == "literal":
                problem(deployment, path, _not_postgres(source[1]) or f"{VAR} holds a DSN with its password in a "
                        "manifest; take it from a Secret (env valueFrom.secretKeyRef)")
            elif source[1] is not None and _not_postgres(source[1]):
                problem(deployment, path, f"Secret value for {VAR}: {_not_postgres(source[1])}")
    return problems


def _jobs_db_source(container: dict, index: dict) -> tuple[str, str | None] | None:
    """Where ``NER_JOBS_DB`` comes from: ``("literal", value)`` (a value or a ConfigMap) or
    ``("secret", value-if-the-manifests-hold-it)``; None when it is not set. ``env`` wins over ``envFrom``."""
    for var in container.get("env") or []:
        if var.get("name") != VAR:
            continue
        if "value" in var:
            return "literal", str(var["value"])
        ref = (var.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            secret = index.get(("Secret", ref.get("name", "")))
            return "secret", _secret_value(secret, ref.get("key", "")) if secret else None
        ref = (var.get("valueFrom") or {}).get("configMapKeyRef") or {}
        config = index.get(("ConfigMap", ref.get("name", "")))
        return "literal", str(((config.doc.get("data") or {}) if config else {}).get(ref.get("key"), ""))
    found = None
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            config = index.get(("ConfigMap", source["configMapRef"].get("name", "")))
            data = (config.doc.get("data") or {}) if config else {}
            if VAR in {prefix + k for k in data}:
                found = ("literal", str(data[VAR[len(prefix):]]))
        if "secretRef" in source:
            secret = index.get(("Secret", source["secretRef"].get("name", "")))
            keys = {prefix + k for k in ((secret.doc.get("stringData") or {}) | (secret.doc.get("data") or {}))} \
                if secret else set()
            if VAR in keys:
                found = ("secret", _secret_value(secret, VAR[len(prefix):]))
    return found
