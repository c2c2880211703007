"""Options shared by several commands, so each flag is spelled and documented once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from pipeline.config import ModelSettings


def _apply(options: list[Callable]) -> Callable:
    def decorator(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func

    return decorator


config_option = click.option(
    "--config", "config_file", type=click.Path(exists=True, dir_okay=False),
    help="Settings file (YAML/TOML/JSON, flat keys). Also NER_CONFIG.",
)

model_options = _apply([
    click.option("--model", default=None, help="Model name ('rampart', the default) or bundle directory. [NER_MODEL]"),
    click.option("--engine", type=click.Choice(["onnxruntime", "tensorrt"]), default=None,
                 help="Inference runtime (default onnxruntime). [NER_ENGINE]"),
    click.option("--threads", type=int, default=None, help="Engine threads (default: all cores). [NER_THREADS]"),
    click.option("--max-batch-tokens", type=int, default=None,
                 help="Token budget per engine call (default 4096). [NER_MAX_BATCH_TOKENS]"),
    click.option("--max-seq-len", type=int, default=None,
                 help="Model window in tokens (default: the model's). [NER_MAX_SEQ_LEN]"),
    click.option("--spin/--no-spin", default=None,
                 help="Let idle onnxruntime threads spin between calls (default on; off frees the cores "
                      "for other work on small machines). [NER_SPIN]"),
    config_option,
])


def model_settings(kwargs: dict[str, Any]) -> ModelSettings:
    """Pop the model flags out of a command's kwargs and resolve them with env and file."""
    keys = ("model", "engine", "threads", "max_batch_tokens", "max_seq_len", "spin")
    overrides = {k: kwargs.pop(k, None) for k in keys}
    return ModelSettings.load(kwargs.get("config_file"), **overrides)
