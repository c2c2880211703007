"""deploy/Dockerfile*: hadolint plus the image policy (non-root, health check, pinned bases, no remote ADD)."""

from __future__ import annotations

from deploy.validate import dockerfile


def _check(tree, name="Dockerfile"):
    return dockerfile.check([tree.root / "deploy" / name], tree.root)


def test_real_dockerfile_is_valid(tree):
    assert _check(tree) == []


def test_root_user_fails(tree):
    tree.edit("deploy/Dockerfile", "USER 10001:10001", "USER root")
    problems = _check(tree)
    assert any("runs as root" in p.message for p in problems)


def test_missing_user_fails(tree):
    tree.edit("deploy/Dockerfile", "USER 10001:10001\n", "")
    assert [p.where for p in _check(tree)] == ["final stage"]


def test_missing_healthcheck_fails(tree):
    tree.edit("deploy/Dockerfile", "HEALTHCHECK --interval", "# HEALTHCHECK --interval")
    tree.edit("deploy/Dockerfile", "  CMD [\"python\", \"-c\"", "#  CMD [\"python\", \"-c\"")
    assert any(p.message == "no HEALTHCHECK" for p in _check(tree))


def test_unpinned_base_image_fails(tree):
    tree.edit("deploy/Dockerfile", "ARG PYTHON_IMAGE=python:3.12.11-slim-bookworm", "ARG PYTHON_IMAGE=python:latest")
    problems = _check(tree)
    assert sum("not pinned" in p.message for p in problems) == 2  # both stages


def test_add_of_a_url_fails(tree):
    tree.edit("deploy/Dockerfile", "COPY schemas ./schemas",
              "COPY schemas ./schemas\nADD https://example.com/model.onnx /models/model.onnx")
    assert any("ADD of a URL" in p.message for p in _check(tree))


def test_hadolint_findings_fail(tree):
    tree.edit("deploy/Dockerfile", "WORKDIR /src\n", "RUN cd /src\n")
    assert any(p.message.startswith("DL3003") for p in _check(tree))


def test_instructions_join_continuations_and_skip_comments():
    text = "FROM a:1 AS b\n# note\nRUN x \\\n  # inner comment\n  && y\nUSER 1\n"
    assert dockerfile.instructions(text) == [(1, "FROM", "a:1 AS b"), (3, "RUN", "x && y"), (6, "USER", "1")]


def test_image_env_and_default_command_are_checked_against_the_code(tree):
    from deploy.validate import consistency

    paths = sorted((tree.root / "deploy").glob("Dockerfile*"))
    images = dockerfile.containers([p for p in paths if p.suffix != ".dockerignore"], tree.root)
    gpu = next(c for c in images if c.name == "Dockerfile.gpu")
    assert gpu.subcommand == "serve" and gpu.env["NER_ENGINE"] == "tensorrt"
    assert consistency.check(images) == []

    tree.edit("deploy/Dockerfile.gpu", "ENV NER_ENGINE=tensorrt", "ENV NER_ENGIN=tensorrt")
    images = dockerfile.containers([tree.root / "deploy" / "Dockerfile.gpu"], tree.root)
    problems = consistency.check(images)
    assert [(p.file, p.where) for p in problems] == [("deploy/Dockerfile.gpu", "final stage.env.NER_ENGIN")]


def test_env_forms_are_parsed():
    assert dockerfile._env_pairs('A=1 B="x y"') == {"A": "1", "B": "x y"}
    assert dockerfile._env_pairs("A some value") == {"A": "some value"}
