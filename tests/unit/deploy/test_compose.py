"""docker-compose.yml: schema and start-up references, on the real file and on broken copies."""

from __future__ import annotations

from deploy.validate import compose


def _check(tree):
    problems, _ = compose.check(tree.root / "docker-compose.yml", tree.root)
    return problems


def test_real_compose_file_is_valid(tree):
    assert _check(tree) == []


def test_schema_rejects_misspelt_key(tree):
    tree.edit("docker-compose.yml", "    healthcheck:\n      test: [\"CMD-SHELL\"",
              "    helthcheck:\n      test: [\"CMD-SHELL\"")
    problems = _check(tree)
    assert any("helthcheck" in p.message and p.where == "services.kafka" for p in problems)


def test_schema_rejects_wrong_type(tree):
    tree.edit("docker-compose.yml", "restart: \"no\"", "restart: [\"no\"]")
    problems = _check(tree)
    assert [p.where for p in problems] == ["services.kafka-init.restart"]


def test_depends_on_unknown_service(tree):
    tree.edit("docker-compose.yml", "      kafka-init:\n        condition: service_completed_successfully",
              "      kafka-setup:\n        condition: service_completed_successfully")
    assert any("unknown service 'kafka-setup'" in p.message for p in _check(tree))


def test_waiting_for_health_of_a_service_without_healthcheck(tree):
    tree.edit("docker-compose.yml", "      worker:\n        condition: service_started",
              "      kafka-init:\n        condition: service_healthy")
    problems = _check(tree)
    assert [(p.where, p.message) for p in problems] == [
        ("services.prometheus.depends_on.kafka-init",
         "waits for 'kafka-init' to be healthy but 'kafka-init' has no health check")]


def test_always_on_service_cannot_wait_for_a_profile_service(tree):
    tree.edit("docker-compose.yml", "      worker:\n        condition: service_started",
              "      worker-gpu:\n        condition: service_started")
    assert any("only starts with profiles ['gpu']" in p.message for p in _check(tree))


def test_worker_must_stay_scalable(tree):
    tree.edit("docker-compose.yml", "    expose:\n      - \"9100\"\n    depends_on:",
              "    container_name: worker\n    ports:\n      - \"9100:9100\"\n    depends_on:")
    messages = [p.message for p in _check(tree)]
    assert any("container_name" in m for m in messages)
    assert any("host port 9100" in m for m in messages)


def test_undeclared_named_volume(tree):
    tree.edit("docker-compose.yml", "      - prometheus-data:/prometheus", "      - prom-data:/prometheus")
    assert any("'prom-data' is not declared" in p.message for p in _check(tree))


def test_gpu_services_reserve_a_gpu_behind_a_profile(tree):
    tree.edit("docker-compose.yml", "    deploy: *gpu-reservation\n\n  api-gpu:", "\n  api-gpu:")
    tree.edit("docker-compose.yml", "    profiles: [gpu]\n    restart: unless-stopped\n    init: true\n"
              "    stop_grace_period: 60s\n    command: [\"serve\"",
              "    restart: unless-stopped\n    init: true\n    stop_grace_period: 60s\n    command: [\"serve\"")
    problems = _check(tree)
    assert [(p.where, "GPU" in p.message or "profile" in p.message) for p in problems] == [
        ("services.worker-gpu.deploy", True), ("services.api-gpu.profiles", True)]
