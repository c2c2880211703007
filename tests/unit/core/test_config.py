import pytest

from pipeline.config import DecodeSettings, ModelSettings
from pipeline.errors import ConfigError


def test_precedence_flag_over_env_over_file(tmp_path, monkeypatch):
    cfg = tmp_path / "ner.yaml"
    cfg.write_text("threads: 3\nengine_batch_tokens: 1000\nstride: 8\n")
    monkeypatch.setenv("NER_ENGINE_BATCH_TOKENS", "2000")
    settings = ModelSettings.load(cfg, stride=16)
    assert settings.threads == 3  # file
    assert settings.engine_batch_tokens == 2000  # env beats file
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


def test_renamed_settings_still_work_with_a_warning_and_the_new_name_wins(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "old.yaml"
    cfg.write_text("max_chars: 500\n")
    monkeypatch.setenv("NER_MAX_BATCH_TOKENS", "2000")
    old = ModelSettings.load(cfg)
    assert old.engine_batch_tokens == 2000 and old.max_text_chars == 500
    assert "NER_ENGINE_BATCH_TOKENS" in capsys.readouterr().err
    monkeypatch.setenv("NER_ENGINE_BATCH_TOKENS", "3000")
    new = ModelSettings.load(cfg, max_text_chars=700)
    assert new.engine_batch_tokens == 3000 and new.max_text_chars == 700


@pytest.mark.parametrize("var, value, message", [
    ("NER_IGNORE_LABELS", "SURNAME", 'NER_IGNORE_LABELS: expected a JSON list'),
    ("NER_LABEL_THRESHOLDS", "nope", "NER_LABEL_THRESHOLDS: expected a JSON object"),
    ("NER_AGGREGATION", "maximum", "aggregation (--aggregation, NER_AGGREGATION): Input should be"),
])
def test_a_bad_variable_is_one_line_naming_it_and_the_expected_form(monkeypatch, var, value, message):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as caught:
        DecodeSettings.load()
    assert str(caught.value).startswith(message) or message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_config_file_keys_are_refused_naming_the_key(tmp_path):
    cfg = tmp_path / "typo.yaml"
    cfg.write_text("merge_adjacnt: true\nbootstrap: k:9092\n")  # bootstrap: another command's key, allowed
    with pytest.raises(ConfigError, match="unknown setting 'merge_adjacnt' \\(did you mean 'merge_adjacent'\\?\\)"):
        DecodeSettings.load(cfg)
    cfg.write_text("bootstrap: k:9092\nport: 1\nbroker_kind: tansu\n")  # kafka, http, broker keys
    assert DecodeSettings.load(cfg).merge_adjacent is True


def test_ignore_labels_add_to_the_defaults_unless_turned_off():
    assert DecodeSettings.load().ignored == ("O",)
    assert DecodeSettings.load(ignore_labels=["SURNAME"]).ignored == ("O", "SURNAME")
    assert DecodeSettings.load(ignore_labels=["SURNAME"], default_ignore=False).ignored == ("SURNAME",)
