import pytest

from pipeline.config import ModelSettings
from pipeline.errors import ConfigError


def test_precedence_flag_over_env_over_file(tmp_path, monkeypatch):
    cfg = tmp_path / "ner.yaml"
    cfg.write_text("threads: 3\nmax_batch_tokens: 1000\nstride: 8\n")
    monkeypatch.setenv("NER_MAX_BATCH_TOKENS", "2000")
    settings = ModelSettings.load(cfg, stride=16)
    assert settings.threads == 3  # file
    assert settings.max_batch_tokens == 2000  # env beats file
    assert settings.stride == 16  # flag beats both


def test_config_file_from_env_and_toml(tmp_path, monkeypatch):
    cfg = tmp_path / "ner.toml"
    cfg.write_text('model = "/models/x"\n')
    monkeypatch.setenv("NER_CONFIG", str(cfg))
    assert ModelSettings.load().model == "/models/x"


def test_invalid_value_names_the_setting(monkeypatch):
    monkeypatch.setenv("NER_THREADS", "zero")
    with pytest.raises(ConfigError, match="threads"):
        ModelSettings.load()


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        ModelSettings.load(tmp_path / "missing.yaml")
