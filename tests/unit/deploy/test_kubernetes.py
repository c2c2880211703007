"""deploy/k8s: Kubernetes and KEDA schemas offline, and the references between objects."""

from __future__ import annotations

from deploy.validate import kubernetes


def _check(tree):
    problems, _ = kubernetes.check(tree.root / "deploy" / "k8s", tree.root)
    return problems


def test_real_manifests_are_valid(tree):
    assert _check(tree) == []


def test_unknown_field_fails_strict_schema(tree):
    tree.edit("deploy/k8s/worker.yaml", "          imagePullPolicy: IfNotPresent",
              "          imagePullPolicy: IfNotPresent\n          imagePullSecret: registry")
    problems = _check(tree)
    assert len(problems) == 1
    assert problems[0].where.startswith("Deployment/ner-stage-worker.spec.template.spec.containers[0]")
    assert "imagePullSecret" in problems[0].message


def test_wrong_type_fails_schema(tree):
    tree.edit("deploy/k8s/api-autoscaling.yaml", "  maxReplicas: 10", "  maxReplicas: ten")
    assert [p.where for p in _check(tree)] == ["HorizontalPodAutoscaler/ner-stage-api.spec.maxReplicas"]


def test_keda_metadata_values_must_be_strings(tree):
    tree.edit("deploy/k8s/worker-autoscaling.yaml", 'lagThreshold: "1500"', "lagThreshold: 1500")
    problems = _check(tree)
    assert [p.where for p in problems] == ["ScaledObject/ner-stage-worker.spec.triggers[0].metadata.lagThreshold"]


def test_keda_unknown_kafka_parameter(tree):
    tree.edit("deploy/k8s/worker-autoscaling.yaml", "        consumerGroup: ner-stage",
              "        consumerGroup: ner-stage\n        lagTreshold: \"5\"")
    assert any("lagTreshold" in p.message for p in _check(tree))


def test_kind_without_schema_is_a_problem(tree):
    (tree.root / "deploy" / "k8s" / "extra.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n", encoding="utf-8")
    assert any(p.where == "Widget/w" for p in _check(tree))


def test_keda_trigger_must_watch_the_workers_group(tree):
    tree.edit("deploy/k8s/worker-autoscaling.yaml", "consumerGroup: ner-stage", "consumerGroup: ner-stage-v2")
    problems = _check(tree)
    assert [p.where for p in problems] == ["ScaledObject/ner-stage-worker.spec.triggers[0].metadata.consumerGroup"]


def test_missing_configmap_and_secret_key(tree):
    tree.edit("deploy/k8s/worker.yaml", "                name: ner-stage-worker", "                name: ner-worker")
    tree.edit("deploy/k8s/worker-autoscaling.yaml", "key: NER_SASL_PASSWORD", "key: NER_SASL_PASS")
    messages = [p.message for p in _check(tree)]
    assert any("ConfigMap 'ner-worker'" in m for m in messages)
    assert any("'NER_SASL_PASS'" in m for m in messages)


def test_service_must_reach_a_container_port(tree):
    tree.edit("deploy/k8s/api.yaml", "      targetPort: http", "      targetPort: web")
    assert any("targetPort 'web'" in p.message for p in _check(tree))


def test_two_autoscalers_on_one_deployment(tree):
    tree.edit("deploy/k8s/api-autoscaling.yaml", "    name: ner-stage-api\n  minReplicas",
              "    name: ner-stage-worker\n  minReplicas")
    assert any("two autoscalers fight" in p.message for p in _check(tree))


def test_pdb_selector_must_match_pods(tree):
    tree.edit("deploy/k8s/api-autoscaling.yaml",
              "  minAvailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ner-stage\n"
              "      app.kubernetes.io/component: api",
              "  minAvailable: 1\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: ner-stage\n"
              "      app.kubernetes.io/component: web")
    assert [p.where for p in _check(tree)] == ["PodDisruptionBudget/ner-stage-api.spec.selector"]
