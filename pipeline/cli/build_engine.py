"""``ner-stage build-engine BUNDLE``: build (or find) the cached TensorRT plan for a bundle.

Run it once per GPU model and TensorRT version (at image start, in an init container, or on a
build host with the same GPU) so servers and workers start by loading the plan instead of
spending minutes building it. The shape limits must match the ones the server runs with (the
same ``NER_MAX_BATCH_TOKENS`` / ``NER_MAX_SEQ_LEN`` / ``NER_MAX_BATCH_SIZE``): they are part of
the cache key, and a server with other limits builds its own plan.
"""

from __future__ import annotations

import json
import time

import click

from pipeline.cli.options import config_option
from pipeline.config import ModelSettings


def _echo(message: str) -> None:
    click.echo(message, err=True)


@click.command("build-engine")
@click.argument("bundle")
@click.option("--fp16/--fp32", "fp16", default=None,
              help="Kernel precision: fp16 (default; I/O stays int64/float32) or fp32. [NER_PRECISION=fp16|fp32]")
@click.option("--max-batch-tokens", type=int, default=None,
              help="Padded-token budget per engine call the profiles cover (default 4096). [NER_MAX_BATCH_TOKENS]")
@click.option("--max-seq-len", type=int, default=None,
              help="Longest sequence the profiles cover (default: the model's window). [NER_MAX_SEQ_LEN]")
@click.option("--max-batch-size", type=int, default=None,
              help="Most sequences per engine call (default 64). [NER_MAX_BATCH_SIZE]")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where plans and the timing cache live (default: BUNDLE/trt when writable, else "
                   "~/.cache/ner-stage/trt). [NER_CACHE_DIR]")
@click.option("--device", type=int, default=None, help="CUDA device index (default 0). [NER_DEVICE]")
@click.option("--force", is_flag=True, help="Rebuild even when a valid cached plan exists.")
@config_option
def command(bundle, fp16, max_batch_tokens, max_seq_len, max_batch_size, cache_dir, device, force,
            config_file) -> None:
    """Build the TensorRT plan for BUNDLE (a model name or a bundle directory made by
    `ner-stage export`; the bundle must be plain ONNX, not 4-bit/contrib-op) on this GPU, or
    reuse the cached one when it matches the model hash, GPU, TensorRT version, precision and
    shape profiles. Progress goes to stderr; a JSON summary to stdout."""
    from engines import create_engine, load_bundle

    model = ModelSettings.load(config_file, model=bundle, engine="tensorrt", max_batch_tokens=max_batch_tokens,
                               max_seq_len=max_seq_len, max_batch_size=max_batch_size,
                               precision=None if fp16 is None else ("fp16" if fp16 else "fp32"),
                               cache_dir=cache_dir, device=device)
    started = time.perf_counter()
    loaded = load_bundle(model.model)
    engine = create_engine(
        "tensorrt", loaded, precision=model.precision, max_batch_tokens=model.max_batch_tokens,
        max_seq_len=model.max_seq_len, max_batch_size=model.max_batch_size, cache_dir=model.cache_dir,
        device=model.device, force_build=force, progress=_echo,
    )
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
