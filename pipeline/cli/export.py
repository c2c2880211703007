"""``ner-stage export HF_DIR OUT_DIR``: Hugging Face checkpoint -> model bundle."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from pipeline.cli.options import config_option, settings_from, settings_options
from pipeline.cli.text_io import ExportSettings


@click.command("export")
@click.argument("hf_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@settings_options(ExportSettings, aliases={"bundle_name": "name"})
@config_option
def command(hf_dir, out_dir, **kwargs) -> None:
    """Export a token-classification checkpoint (needs the export extra: torch, transformers)
    to OUT_DIR as a bundle: model ONNX with dynamic batch/sequence axes, tokenizer.json,
    config.json and bundle.json with the verification report."""
    from engines.export import export_checkpoint

    s = settings_from(ExportSettings, kwargs)
    report = export_checkpoint(hf_dir, out_dir, opset=s.opset, atol=s.atol, optimize=s.optimize,
                               quantize=s.quantize_int8, name=s.bundle_name, progress=lambda m: click.echo(m, err=True))
    click.echo(json.dumps(asdict(report), indent=2))
