"""``ner-stage build-engine BUNDLE``: build (or find) the cached TensorRT plan for a bundle.

Run it once per GPU model and TensorRT version (at image start, in an init container, or on a
build host with the same GPU) so servers and workers start by loading the plan instead of
spending minutes building it. The shape limits must match the ones the server runs with (the
same ``NER_ENGINE_BATCH_TOKENS`` / ``NER_MAX_SEQ_LEN`` / ``NER_MAX_BATCH_SIZE``): they are part of
the cache key, and a server with other limits builds its own plan.
"""

from __future__ import annotations

import json
import time

import click

from pipeline.cli.options import config_option, settings_from, settings_options
from pipeline.config import ModelSettings


def _echo(message: str) -> None:
    click.echo(message, err=True)


@click.command("build-engine")
@click.argument("bundle")
@click.option("--fp16/--fp32", "fp16", default=None,
              help="Kernel precision: fp16 (default; I/O stays int64/float32) or fp32. [NER_PRECISION=fp16|fp32]")
@settings_options(ModelSettings, only=("engine_batch_tokens", "max_seq_len", "max_batch_size", "cache_dir", "device"))
@click.option("--force", is_flag=True, help="Rebuild even when a valid cached plan exists.")
@config_option
def command(bundle, fp16, force, **kwargs) -> None:
    """Build the TensorRT plan for BUNDLE (a model name or a bundle directory made by
    `ner-stage export`; the bundle must be plain ONNX, not 4-bit/contrib-op) on this GPU, or
    reuse the cached one when it matches the model hash, GPU, TensorRT version, precision and
    shape profiles. Progress goes to stderr; a JSON summary to stdout."""
    from engines import engine_from_settings, load_bundle

    model = settings_from(ModelSettings, kwargs, model=bundle, engine="tensorrt",
                          precision=None if fp16 is None else ("fp16" if fp16 else "fp32"))
    started = time.perf_counter()
    loaded = load_bundle(model.model)
    engine = engine_from_settings(loaded, model, force_build=force, progress=_echo)
    try:
        _echo(f"plan {'built' if engine.plan_source == 'built' else 'loaded from cache'}: {engine.plan_path}")
        healthy = engine.health()
        summary = {
            "model": loaded.name,
            "plan": str(engine.plan_path),
            "source": engine.plan_source,
            "plan_mib": round(engine.plan_path.stat().st_size / 2**20, 1),
            "seconds": round(time.perf_counter() - started, 1),
            "healthy": healthy,
            "gpu": engine.gpu.name,
            "key": engine.plan_key,
        }
    finally:
        engine.close()
    click.echo(json.dumps(summary, indent=2))
    if not healthy:
        raise click.ClickException("the plan loaded but a one-token batch failed; see the log above")
