"""``ner-stage export HF_DIR OUT_DIR``: Hugging Face checkpoint -> model bundle."""

from __future__ import annotations

import json
from dataclasses import asdict

import click


@click.command("export")
@click.argument("hf_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset version.")
@click.option("--atol", type=float, default=1e-3, show_default=True,
              help="Largest allowed |ONNX - PyTorch| logit difference on the verification texts.")
@click.option("--optimize", is_flag=True, help="Also write an onnxruntime-optimised graph (fused attention etc.).")
@click.option("--quantize-int8", "quantize", is_flag=True,
              help="Also write an int8 dynamically quantised graph and use it; reports the logit drift.")
@click.option("--name", default=None, help="Model name recorded in bundle.json (default: the HF_DIR name).")
def command(hf_dir, out_dir, opset, atol, optimize, quantize, name) -> None:
    """Export a token-classification checkpoint (needs the export extra: torch, transformers)
    to OUT_DIR as a bundle: model ONNX with dynamic batch/sequence axes, tokenizer.json,
    config.json and bundle.json with the verification report."""
    from engines.export import export_checkpoint

    report = export_checkpoint(hf_dir, out_dir, opset=opset, atol=atol, optimize=optimize, quantize=quantize,
                               name=name, progress=lambda m: click.echo(m, err=True))
    click.echo(json.dumps(asdict(report), indent=2))
