"""Kubernetes manifests: API schemas offline, then the references between the objects.

Built-in kinds are validated with the schemas that the PyPI package ``kubernetes-validate``
ships (strict: unknown fields fail, as ``kubectl apply --validate=strict`` would). KEDA objects
use the vendored ``deploy/schemas/keda-v1alpha1.json``. A kind with no schema is a problem, not a
skip, so nothing is applied unchecked.

Then the references a schema cannot see, each a real outage when wrong: Services, PDBs, HPAs and
ScaledObjects point at Deployments and pods that exist; ``envFrom``/``secretKeyRef`` and KEDA's
``secretTargetRef`` name existing ConfigMaps/Secrets and keys; one autoscaler per Deployment; and
the KEDA Kafka trigger watches the consumer group and topic the worker actually consumes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from deploy.validate import jobs_db
from deploy.validate.containers import Container
from deploy.validate.report import Problem, json_path, load_yaml_documents, rel

CHECK = "kubernetes"
#: oldest Kubernetes minor the manifests must apply to
KUBERNETES_VERSION = "1.30"
KEDA_SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "keda-v1alpha1.json"
#: KEDA kafka trigger metadata key -> worker setting (field of the Kafka settings) it must equal
KEDA_KAFKA_SETTINGS = {"bootstrapServers": "bootstrap", "consumerGroup": "group", "topic": "input"}


class Manifest:
    """One object from a manifest file, remembered with where it came from."""

    def __init__(self, doc: dict, file: str, index: int) -> None:
        self.doc, self.file, self.index = doc, file, index
        self.kind = str(doc.get("kind", ""))
        self.name = str((doc.get("metadata") or {}).get("name", ""))

    @property
    def where(self) -> str:
        return f"{self.kind}/{self.name}"

    def problem(self, message: str, path: str = "") -> Problem:
        return Problem(CHECK, self.file, f"{self.where}{'.' + path if path else ''}", message)


def load(directory: Path, root: Path) -> tuple[list[Manifest], list[Problem]]:
    manifests, problems = [], []
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        problems.append(Problem(CHECK, rel(directory, root), "", "no manifests found"))
    for path in files:
        docs, found = load_yaml_documents(path, root, CHECK)
        problems += found
        manifests += [Manifest(doc, rel(path, root), i) for i, doc in enumerate(docs)]
    return manifests, problems


def _schema_problems(manifest: Manifest) -> list[Problem]:
    import jsonschema
    import kubernetes_validate.utils as kv

    doc = manifest.doc
    if "apiVersion" not in doc or "kind" not in doc:
        return [manifest.problem("needs apiVersion and kind")]
    if str(doc["apiVersion"]).startswith("keda.sh/"):
        schema = json.loads(KEDA_SCHEMA_FILE.read_text(encoding="utf-8"))
        if manifest.kind not in schema["$defs"] or doc["apiVersion"] != "keda.sh/v1alpha1":
            return [manifest.problem(f"no vendored schema for {doc['apiVersion']} {manifest.kind}")]
        validator = jsonschema.Draft202012Validator({"$ref": f"#/$defs/{manifest.kind}", "$defs": schema["$defs"]})
        errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
        found = [manifest.problem(e.message, json_path(e.absolute_path)) for e in errors]
        return list(dict.fromkeys(found))  # a value can break the same rule via two $refs
    try:
        kv.validate(doc, KUBERNETES_VERSION, strict=True)
    except kv.ValidationError as exc:
        return [manifest.problem(exc.message, json_path(exc.absolute_path))]
    except (kv.SchemaNotFoundError, kv.InvalidSchemaError) as exc:
        return [manifest.problem(exc.message)]
    return []


def _index(manifests: list[Manifest]) -> dict[tuple[str, str], Manifest]:
    return {(m.kind, m.name): m for m in manifests}


def _data_keys(manifest: Manifest) -> set[str]:
    doc = manifest.doc
    return set((doc.get("data") or {}).keys()) | set((doc.get("stringData") or {}).keys())


def _pod_spec(manifest: Manifest) -> dict:
    return ((manifest.doc.get("spec") or {}).get("template") or {}).get("spec") or {}


def _pod_labels(manifest: Manifest) -> dict:
    return (((manifest.doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def _selects(selector: dict, labels: dict) -> bool:
    match = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def _reference_problems(manifests: list[Manifest]) -> list[Problem]:
    index = _index(manifests)
    deployments = [m for m in manifests if m.kind == "Deployment"]
    problems: list[Problem] = []

    def need(kind: str, name: str, owner: Manifest, path: str, key: str | None = None) -> None:
        target = index.get((kind, name))
        if target is None:
            problems.append(owner.problem(f"refers to {kind} {name!r}, which is not in the manifests", path))
        elif key is not None and key not in _data_keys(target):
            problems.append(owner.problem(f"refers to key {key!r}, which {kind} {name!r} does not define", path))

    for deployment in deployments:
        spec = deployment.doc.get("spec") or {}
        if not _selects(spec.get("selector") or {}, _pod_labels(deployment)):
            problems.append(deployment.problem("spec.selector does not match the pod template's labels",
                                               "spec.selector"))
        for c, container in enumerate(_pod_spec(deployment).get("containers") or []):
            base = f"spec.template.spec.containers[{c}]"
            for e, source in enumerate(container.get("envFrom") or []):
                for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                    if field in source and not source[field].get("optional"):
                        need(kind, source[field].get("name", ""), deployment, f"{base}.envFrom[{e}]")
            for e, var in enumerate(container.get("env") or []):
                ref = var.get("valueFrom") or {}
                for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                    if field in ref and not ref[field].get("optional"):
                        need(kind, ref[field].get("name", ""), deployment, f"{base}.env[{e}]", ref[field].get("key"))

    scaled: dict[str, str] = {}
    for manifest in manifests:
        spec = manifest.doc.get("spec") or {}
        if manifest.kind in ("HorizontalPodAutoscaler", "ScaledObject"):
            target = (spec.get("scaleTargetRef") or {}).get("name", "")
            need("Deployment", target, manifest, "spec.scaleTargetRef")
            if target in scaled:
                problems.append(manifest.problem(
                    f"Deployment {target!r} is already scaled by {scaled[target]}; two autoscalers fight", "spec"))
            scaled[target] = manifest.where
        if manifest.kind == "ScaledObject":
            for t, trigger in enumerate(spec.get("triggers") or []):
                auth = trigger.get("authenticationRef")
                if auth:
                    need(auth.get("kind", "TriggerAuthentication"), auth.get("name", ""), manifest,
                         f"spec.triggers[{t}].authenticationRef")
        if manifest.kind == "TriggerAuthentication":
            for r, ref in enumerate(spec.get("secretTargetRef") or []):
                need("Secret", ref.get("name", ""), manifest, f"spec.secretTargetRef[{r}]", ref.get("key"))
        if manifest.kind in ("Service", "PodDisruptionBudget"):
            selector = spec.get("selector") or {}
            chosen = [d for d in deployments if _selects(selector, _pod_labels(d))]
            if not chosen:
                problems.append(manifest.problem("selector matches no Deployment's pods", "spec.selector"))
            if manifest.kind == "Service":
                ports = {p.get("name") for d in chosen for c in _pod_spec(d).get("containers") or []
                         for p in c.get("ports") or []}
                ports |= {p.get("containerPort") for d in chosen for c in _pod_spec(d).get("containers") or []
                          for p in c.get("ports") or []}
                for p, port in enumerate(spec.get("ports") or []):
                    if chosen and port.get("targetPort", port.get("port")) not in ports:
                        problems.append(manifest.problem(
                            f"targetPort {port.get('targetPort')!r} is not a port of the selected pods",
                            f"spec.ports[{p}]"))
    return problems


def containers(manifests: list[Manifest]) -> Iterator[Container]:
    """Containers of the Deployments that run ner-stage, with envFrom ConfigMaps resolved."""
    index = _index(manifests)
    for deployment in (m for m in manifests if m.kind == "Deployment"):
        for c, container in enumerate(_pod_spec(deployment).get("containers") or []):
            command = [str(a) for a in container.get("command") or []]
            if command and Path(command[0]).name != "ner-stage":
                continue
            if not command and "ner-stage" not in str(container.get("image", "")):
                continue
            env: dict[str, str | None] = {}
            for source in container.get("envFrom") or []:
                prefix = source.get("prefix", "")
                if "configMapRef" in source:
                    target = index.get(("ConfigMap", source["configMapRef"].get("name", "")))
                    data = (target.doc.get("data") or {}) if target else {}
                    env.update({prefix + k: str(v) for k, v in data.items()})
                if "secretRef" in source:
                    target = index.get(("Secret", source["secretRef"].get("name", "")))
                    env.update({prefix + k: None for k in (_data_keys(target) if target else ())})
            for var in container.get("env") or []:
                env[var["name"]] = str(var["value"]) if "value" in var else None
            yield Container(
                source=deployment.file, where=f"{deployment.where}.containers[{c}]", name=deployment.name,
                args=command[1:] + [str(a) for a in container.get("args") or []], env=env,
            )


def _setting(container: Container, field: str) -> str | None:
    return container.env.get(f"NER_{field.upper()}") or container.flag_value(f"--{field.replace('_', '-')}")


def keda_problems(manifests: list[Manifest], found: list[Container]) -> list[Problem]:
    """The Kafka trigger must watch what the scaled worker consumes, or it scales on someone else's lag."""
    by_name = {c.name: c for c in found}
    problems = []
    for manifest in (m for m in manifests if m.kind == "ScaledObject"):
        spec = manifest.doc.get("spec") or {}
        worker = by_name.get((spec.get("scaleTargetRef") or {}).get("name", ""))
        if worker is None:
            continue
        for t, trigger in enumerate(spec.get("triggers") or []):
            if trigger.get("type") != "kafka":
                continue
            metadata = trigger.get("metadata") or {}
            for key, field in KEDA_KAFKA_SETTINGS.items():
                want, have = metadata.get(key), _setting(worker, field)
                if want is None:
                    continue
                allowed = [v.strip() for v in have.split(",")] if have and key == "topic" else [have]
                if want not in allowed:
                    problems.append(manifest.problem(
                        f"{key} {want!r} differs from the worker's {field} setting {have!r}",
                        f"spec.triggers[{t}].metadata.{key}"))
    return problems


def check(directory: Path, root: Path) -> tuple[list[Problem], list[Container]]:
    """Validate every manifest in a directory; also return the ner-stage containers."""
    manifests, problems = load(directory, root)
    for manifest in manifests:
        problems += _schema_problems(manifest)
    if problems:
        return problems, []
    found = list(containers(manifests))
    problems += _reference_problems(manifests)
    problems += keda_problems(manifests, found)
    problems += jobs_db.kubernetes_problems(manifests, found)
    return problems, found
