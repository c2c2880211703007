"""The API's job store in compose and Kubernetes: shared PostgreSQL, DSN from a Secret, on broken copies."""

from __future__ import annotations

from deploy.validate import compose, jobs_db, kubernetes

SECRET_ENV = ("          env:\n            - name: NER_JOBS_DB\n              valueFrom:\n"
              "                secretKeyRef:\n                  name: ner-stage-jobs-db\n                  key: uri\n")


def _compose(tree):
    problems, _ = compose.check(tree.root / "docker-compose.yml", tree.root)
    return [p for p in problems if p.check == jobs_db.CHECK]


def _k8s(tree):
    problems, _ = kubernetes.check(tree.root / "deploy" / "k8s", tree.root)
    return [p for p in problems if p.check == jobs_db.CHECK]


def test_the_real_files_use_a_shared_postgresql(tree):
    assert _compose(tree) == [] and _k8s(tree) == []


def test_compose_api_on_a_sqlite_file_is_refused(tree):
    tree.edit("docker-compose.yml", "      NER_JOBS_DB: *jobs-db-dsn\n      NER_MAX_QUEUE_REQUESTS",
              "      NER_JOBS_DB: /var/lib/ner-stage/jobs.sqlite3\n      NER_MAX_QUEUE_REQUESTS")
    (problem,) = _compose(tree)
    assert problem.where == "services.api.environment.NER_JOBS_DB" and "not a postgresql://" in problem.message


def test_compose_dsn_must_match_the_database_service(tree):
    tree.edit("docker-compose.yml", "      POSTGRES_DB: ner_jobs", "      POSTGRES_DB: jobs")
    problems = _compose(tree)
    assert {p.where for p in problems} == {"services.api.environment.NER_JOBS_DB",
                                           "services.api-gpu.environment.NER_JOBS_DB"}
    assert all("POSTGRES_DB" in p.message for p in problems)


def test_compose_api_waits_for_a_healthy_database(tree):
    tree.edit("docker-compose.yml", "    ports:\n      - \"8080:8080\"\n    depends_on:\n      postgres:\n"
              "        condition: service_healthy", "    ports:\n      - \"8080:8080\"\n    depends_on:\n"
              "      postgres:\n        condition: service_started")
    assert [p.where for p in _compose(tree)] == ["services.api.depends_on"]


def test_k8s_dsn_in_a_configmap_is_refused(tree):
    tree.edit("deploy/k8s/config.yaml", "  NER_JOB_WORKERS: \"1\"",
              "  NER_JOB_WORKERS: \"1\"\n  NER_JOBS_DB: postgresql://ner:pw@db:5432/jobs")
    tree.edit("deploy/k8s/api.yaml", SECRET_ENV, "")
    (problem,) = _k8s(tree)
    assert problem.where.startswith("Deployment/ner-stage-api") and "from a Secret" in problem.message


def test_k8s_api_without_a_jobs_db_is_refused(tree):
    tree.edit("deploy/k8s/api.yaml", SECRET_ENV, "")
    (problem,) = _k8s(tree)
    assert "NER_JOBS_DB is not set" in problem.message


def test_k8s_secret_holding_a_sqlite_path_is_refused(tree):
    tree.edit("deploy/k8s/secret.yaml", "  uri: postgresql://ner:change-me@ner-stage-postgres-rw.databases.svc:5432/ner_jobs",
              "  uri: /var/lib/ner-stage/jobs.sqlite3")
    (problem,) = _k8s(tree)
    assert "Secret value for NER_JOBS_DB" in problem.message
