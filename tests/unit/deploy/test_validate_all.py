"""``python -m deploy.validate``: the whole CI check passes on the real tree and fails on a broken copy."""

from __future__ import annotations

from click.testing import CliRunner

from deploy.validate import validate_all
from deploy.validate.__main__ import main


def test_real_tree_passes(tree):
    assert validate_all(tree.root) == []  # a missing or renamed command module fails here
    result = CliRunner().invoke(main, [str(tree.root)])
    assert result.exit_code == 0, result.output
    assert "deploy files valid" in result.output


def test_broken_copy_fails_and_names_every_defect(tree):
    before = validate_all(tree.root)
    tree.edit("docker-compose.yml", "    stop_grace_period: 60s", "    stop_grace_period: [60s]")
    tree.edit("deploy/k8s/api.yaml", "      targetPort: http", "      targetPort: web")
    tree.edit("deploy/Dockerfile", "USER 10001:10001", "USER root")
    tree.edit("deploy/prometheus/alerts.yml", "ner_kafka_paused_partitions) > 0",
              "ner_kafka_partitions_paused) > 0")
    tree.edit("deploy/k8s/config.yaml", "  NER_MAX_INPUTS: \"256\"", "  NER_MAX_INPUT: \"256\"")
    new = [p for p in validate_all(tree.root) if p not in before]
    assert {p.check for p in new} == {"compose", "kubernetes", "dockerfile", "observability", "settings"}
    assert any("ner_kafka_partitions_paused" in p.message for p in new)
    assert any(p.where.endswith("env.NER_MAX_INPUT") for p in new)

    result = CliRunner().invoke(main, [str(tree.root)])
    assert result.exit_code == 1
    assert result.output.rstrip().endswith("problem(s)")
    assert "[dockerfile] deploy/Dockerfile: final stage: the image runs as root" in result.output


def test_a_file_that_is_not_yaml_is_a_problem_not_a_crash(tree):
    (tree.root / "deploy" / "k8s" / "broken.yaml").write_text("kind: [unclosed\n", encoding="utf-8")
    assert any(p.file == "deploy/k8s/broken.yaml" and "cannot parse YAML" in p.message
               for p in validate_all(tree.root))
