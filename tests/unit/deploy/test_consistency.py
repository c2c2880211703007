"""Manifests against the code: NER_* variables are real settings, command lines parse with the real CLI."""

from __future__ import annotations

from deploy.validate import compose, consistency, kubernetes
from deploy.validate.containers import Container, interpolate


def _containers(tree):
    _, from_compose = compose.check(tree.root / "docker-compose.yml", tree.root)
    _, from_k8s = kubernetes.check(tree.root / "deploy" / "k8s", tree.root)
    return from_compose + from_k8s


def _new_problems(tree, *edits):
    """Problems the edits introduce (the tree's own findings, if any, are not the edit's)."""
    before = consistency.check(_containers(tree))
    for edit in edits:
        tree.edit(*edit)
    return [p for p in consistency.check(_containers(tree)) if p not in before]


def test_every_manifest_setting_and_command_exists(tree):
    found = _containers(tree)
    assert {c.subcommand for c in found} == {"worker", "serve"}
    assert sum(len(c.env) for c in found) > 20  # the check looked at real variables
    assert consistency.check(found) == []  # a missing or renamed command module fails here


def test_every_manifest_setting_exists(tree):
    """The settings half on its own, so a failure says which half broke."""
    found = _containers(tree)
    assert [p for p in consistency.check(found) if p.check == consistency.CHECK] == []


def test_settings_classes_come_from_the_code():
    from pipeline.config import DecodeSettings, ModelSettings
    from pipeline.http.settings import HttpSettings
    from pipeline.kafka.settings import KafkaSettings

    serve, worker = consistency.settings_classes("serve"), consistency.settings_classes("worker")
    assert {ModelSettings, DecodeSettings, HttpSettings} <= set(serve) and KafkaSettings not in serve
    assert {ModelSettings, DecodeSettings, KafkaSettings} <= set(worker) and HttpSettings not in worker
    assert consistency.env_names(KafkaSettings)["NER_SASL_PASSWORD"] == "sasl_password"


def test_misspelt_variable_in_compose(tree):
    problems = _new_problems(tree, ("docker-compose.yml", "      NER_THREADS: 1", "      NER_THREAD: 1"))
    assert [(p.file, p.where) for p in problems] == [("docker-compose.yml", "services.worker.env.NER_THREAD")]
    assert "has no setting NER_THREAD" in problems[0].message


def test_setting_of_another_component(tree):
    # NER_JOBS_DB is an HTTP setting: in the worker's ConfigMap it would be silently ignored
    problems = _new_problems(tree, ("deploy/k8s/config.yaml", "  NER_WORKERS: \"1\"",
                                    "  NER_WORKERS: \"1\"\n  NER_JOBS_DB: /tmp/jobs.db"))
    assert [p.where for p in problems] == ["Deployment/ner-stage-worker.containers[0].env.NER_JOBS_DB"]


def test_invalid_value_in_configmap(tree):
    problems = _new_problems(tree, ("deploy/k8s/config.yaml", "  NER_ENGINE: onnxruntime", "  NER_ENGINE: onnx"))
    # the ConfigMap feeds both Deployments
    assert len(problems) == 2 and all("NER_ENGINE" in p.where and "'onnx'" in p.message for p in problems)


def test_secret_names_are_checked_without_values(tree):
    problems = _new_problems(
        tree,
        ("deploy/k8s/secret.yaml", "  NER_SASL_USERNAME: ner-stage", "  NER_SASL_USER: ner-stage"),
        ("deploy/k8s/worker-autoscaling.yaml", "key: NER_SASL_USERNAME", "key: NER_SASL_USER"),
    )
    assert [p.where for p in problems] == ["Deployment/ner-stage-worker.containers[0].env.NER_SASL_USER"]


def test_unknown_flag_in_compose_command(tree):
    problems = _new_problems(tree, ("docker-compose.yml", "      - --dlq-topic", "      - --dead-letter-topic"))
    assert [p.where for p in problems] == ["services.worker.command"]
    assert "--dead-letter-topic" in problems[0].message


def test_bad_choice_and_unknown_command():
    bad_choice = Container("x", "a", "a", ["serve", "--engine", "fast"])
    unknown = Container("x", "b", "b", ["server", "--port", "8080"])
    problems = consistency.check([bad_choice, unknown])
    assert [p.where for p in problems] == ["a.command", "b.command"]
    assert "'fast'" in problems[0].message and "not a command" in problems[1].message


def test_interpolation_resolves_defaults():
    assert interpolate("${NER_MODEL:-rampart}") == "rampart"
    assert interpolate("${UNSET}") == ""
    assert interpolate("$${literal}") == "${literal}"
