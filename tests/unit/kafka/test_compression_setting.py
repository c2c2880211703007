"""Output compression is a setting (flag, NER_COMPRESSION_TYPE, config file) that reaches the
worker's producer, and only the worker's producer: consumers read whatever codec a batch has."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipeline.cli.main import cli
from pipeline.errors import ConfigError
from pipeline.kafka.settings import KafkaSettings


def test_default_codec_is_gzip_the_one_every_client_reads_without_a_codec_package():
    settings = KafkaSettings.load()
    assert settings.compression_type == "gzip"
    assert settings.producer_config()["compression.type"] == "gzip"
    assert "compression.type" not in settings.consumer_config()


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_env_and_flags_choose_the_producer_codec(monkeypatch, codec):
    monkeypatch.setenv("NER_COMPRESSION_TYPE", codec)
    assert KafkaSettings.load().producer_config()["compression.type"] == codec
    assert KafkaSettings.load(compression_type="lz4").producer_config(worker_index=1)["compression.type"] == "lz4"


def test_exactly_once_producer_keeps_the_codec_and_librdkafka_overrides_win():
    settings = KafkaSettings.load(compression_type="zstd", delivery="exactly_once")
    assert settings.producer_config()["compression.type"] == "zstd"
    overridden = KafkaSettings.load(compression_type="zstd", librdkafka={"compression.type": "snappy"})
    assert overridden.producer_config()["compression.type"] == "snappy"


def test_unknown_codec_is_a_config_error_and_a_usage_error(tmp_path):
    with pytest.raises(ConfigError, match="compression_type"):
        KafkaSettings.load(compression_type="brotli")
    result = CliRunner().invoke(cli, ["worker", "--compression-type", "brotli"])
    assert result.exit_code == 2 and "brotli" in result.output


def test_config_file_sets_the_codec(tmp_path):
    path = tmp_path / "ner.toml"
    path.write_text('compression_type = "snappy"\n', encoding="utf-8")
    assert KafkaSettings.load(path).compression_type == "snappy"
