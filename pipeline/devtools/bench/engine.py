"""``ner-stage bench engine``: the inference path alone, side by side with transformers.

Measures, on reproducible short (10-30 words) and long (200-400 words) texts:
- throughput (docs/s, tokens/s) of tokenize + engine + decode at batch sizes 1..64;
- single short text latency P50/P99 (tokenize + engine + decode), and the engine alone;
- the same for transformers' token-classification pipeline on the same float32 model and
  texts (``batch_size`` = our batch size, same thread count) when the export extra is installed.

With ``--models A,B`` it compares bundles instead (``pipeline/devtools/bench/models.py``): speed in
interleaved rounds, the answers (token argmax, spans per strategy, redaction leak rates), the
kernels that ran and the fraction of the host's GEMM rate reached.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.options import model_options, model_settings
from pipeline.devtools.bench.common import best_of, percentiles, progress, pyplot, sample_texts, save, time_calls
from pipeline.service import NerService, PredictOptions

SHORT_TEXT = "My name is John Smith and my email is john.smith@example.com"


def _ours(service: NerService, texts: list[str], sizes: list[int], options: PredictOptions) -> list[dict]:
    rows = []
    tokens = sum(service.count_tokens(t) for t in texts)
    for size in sizes:
        service.max_batch_size = size

        def run(size=size):
            for i in range(0, len(texts), size):
                service.predict(texts[i : i + size], options)

        seconds = best_of(run, repeats=2)
        rows.append({"batch_size": size, "docs_per_s": len(texts) / seconds, "tokens_per_s": tokens / seconds})
        progress(f"  ours batch={size:>2}: {rows[-1]['docs_per_s']:8.1f} docs/s")
    return rows


def _baseline_pipeline(threads: int | None):
    try:
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline
    except ImportError:
        return None
    from engines.reference import float32_checkpoint

    if threads:
        torch.set_num_threads(threads)
    path = float32_checkpoint()
    model = AutoModelForTokenClassification.from_pretrained(str(path))
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="simple",
                    device=-1)


def _theirs(pipe, texts: list[str], sizes: list[int], tokens: int) -> list[dict]:
    rows = []
    for size in sizes:
        seconds = best_of(lambda size=size: pipe(texts, batch_size=size), repeats=1)
        rows.append({"batch_size": size, "docs_per_s": len(texts) / seconds, "tokens_per_s": tokens / seconds})
        progress(f"  transformers batch={size:>2}: {rows[-1]['docs_per_s']:8.1f} docs/s")
    return rows


def _plot(result: dict, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, kind in zip(axes[:2], ("short", "long"), strict=True):
        for who, style in (("ours", "o-"), ("transformers", "s--")):
            rows = result["throughput"].get(kind, {}).get(who)
            if rows:
                ax.plot([r["batch_size"] for r in rows], [r["docs_per_s"] for r in rows], style, label=who)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.set_ylabel("docs/s")
        ax.set_title(f"{kind} texts throughput")
        ax.grid(alpha=0.3)
        ax.legend()
    lat = result["latency_single_short"]
    names = [k for k in ("ours", "ours_engine_only", "transformers") if k in lat]
    x = range(len(names))
    axes[2].bar([i - 0.2 for i in x], [lat[n]["p50_ms"] for n in names], 0.4, label="P50")
    axes[2].bar([i + 0.2 for i in x], [lat[n]["p99_ms"] for n in names], 0.4, label="P99")
    axes[2].set_xticks(list(x), names)
    axes[2].set_ylabel("ms")
    axes[2].set_title("single short text latency")
    axes[2].legend()
    fig.suptitle(f"ner-stage bench engine: {result['engine']} / {result['model']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


LATENCY_BLOCKS = 5


@click.command("engine")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="bench-results", show_default=True,
              help="Directory for engine.json and engine.png.")
@click.option("--batch-sizes", default="1,2,4,8,16,32,64", show_default=True, help="Comma-separated batch sizes.")
@click.option("--short-docs", type=int, default=256, show_default=True, help="Short texts per throughput run.")
@click.option("--long-docs", type=int, default=64, show_default=True, help="Long texts per throughput run.")
@click.option("--latency-runs", type=int, default=1000, show_default=True, help="Single-text latency samples.")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also run transformers' pipeline on the float32 model (needs the export extra).")
@click.option("--baseline-batch-sizes", default="1,8,32", show_default=True,
              help="Batch sizes for the (slow) transformers baseline.")
@click.option("--models", default=None,
              help="Compare bundles instead, e.g. rampart,rampart-int8 (first = reference): speed in interleaved "
                   "rounds, token/span agreement per strategy, redaction leak rates, kernels; engine-models.json.")
@click.option("--rounds", type=int, default=5, show_default=True, help="--models: interleaved speed rounds.")
@click.option("--docs", "n_docs", type=int, default=300, show_default=True,
              help="--models: documents per corpus (dev and heldout) for the answer comparison.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="--models: batch size for docs/s.")
@model_options
def command(out_dir, batch_sizes, short_docs, long_docs, latency_runs, baseline, baseline_batch_sizes, models,
            rounds, n_docs, batch_size, **kwargs) -> None:
    """Throughput and latency of tokenize + engine + decode, side by side with transformers
    (or, with --models, two bundles side by side with their answers compared)."""
    config_file = kwargs.get("config_file")
    settings = model_settings(kwargs)
    if models:
        from pipeline.devtools.bench.models import compare

        names = [m.strip() for m in models.split(",") if m.strip()]
        if len(names) < 2:
            raise click.BadParameter("name at least two models, e.g. rampart,rampart-int8", param_hint="--models")
        compare(names, settings, out_dir=Path(out_dir), rounds=rounds, n_docs=n_docs,
                latency_runs=min(latency_runs, 400), batch_size=batch_size, config_file=config_file)
        return
    sizes = [int(s) for s in batch_sizes.split(",")]
    progress(f"loading {settings.model} on {settings.engine}")
    service = NerService.from_settings(settings)
    options = PredictOptions(aggregation="simple")
    texts = {"short": sample_texts(short_docs, 10, 30, seed=1), "long": sample_texts(long_docs, 200, 400, seed=2)}
    result: dict = {"engine": settings.engine, "model": service.bundle.name, "revision": service.bundle.revision,
                    "threads": settings.threads, "aggregation": "simple", "throughput": {},
                    "docs": {k: len(v) for k, v in texts.items()}}
    gpu = getattr(service.engine, "gpu", None)  # TensorRT: which GPU and plan the figures belong to
    if gpu is not None:
        result["gpu"] = {"name": gpu.name, "compute_capability": "{}.{}".format(*gpu.compute_capability),
                         "precision": getattr(service.engine, "precision", None),
                         "plan": str(getattr(service.engine, "plan_path", ""))}
    progress("single short text latency (tokenize + engine + decode)")
    (doc,) = service.encode([SHORT_TEXT])
    # Alternating blocks, so drift on a shared machine (noisy neighbours, clocks) hits both alike.
    samples: dict[str, list[float]] = {"ours": [], "ours_engine_only": []}
    block = max(1, latency_runs // LATENCY_BLOCKS)
    for _ in range(LATENCY_BLOCKS):
        samples["ours"] += time_calls(lambda: service.predict([SHORT_TEXT], options), block, warmup=20)
        samples["ours_engine_only"] += time_calls(lambda: service.infer([doc]), block, warmup=20)
    result["latency_single_short"] = {name: percentiles(values) for name, values in samples.items()}
    for kind, batch in texts.items():
        progress(f"throughput on {kind} texts")
        result["throughput"][kind] = {"ours": _ours(service, batch, sizes, options)}
    pipe = _baseline_pipeline(settings.threads) if baseline else None
    if baseline and pipe is None:
        progress("transformers/torch not installed: baseline skipped (pip install 'ner-stage[export]')")
    if pipe is not None:
        base_sizes = [int(s) for s in baseline_batch_sizes.split(",")]
        progress("transformers pipeline single short text latency")
        result["latency_single_short"]["transformers"] = percentiles(
            time_calls(lambda: pipe(SHORT_TEXT), max(50, latency_runs // 3), warmup=5))
        for kind, batch in texts.items():
            progress(f"transformers throughput on {kind} texts")
            tokens = sum(service.count_tokens(t) for t in batch)
            result["throughput"][kind]["transformers"] = _theirs(pipe, batch, base_sizes, tokens)
        ours32 = next((r for r in result["throughput"]["short"]["ours"] if r["batch_size"] == 32), None)
        theirs32 = next((r for r in result["throughput"]["short"]["transformers"] if r["batch_size"] == 32), None)
        if ours32 and theirs32:
            result["speedup_short_batch32"] = ours32["docs_per_s"] / theirs32["docs_per_s"]
    path = save(result, Path(out_dir), "engine")
    _plot(result, Path(out_dir) / "engine.png")
    _print(result)
    click.echo(f"saved {path} and {Path(out_dir) / 'engine.png'}")


def _print(result: dict) -> None:
    lat = result["latency_single_short"]
    click.echo("single short text latency:")
    for name, row in lat.items():
        click.echo(f"  {name:<18} P50 {row['p50_ms']:7.2f} ms   P99 {row['p99_ms']:7.2f} ms")
    for kind, by_who in result["throughput"].items():
        click.echo(f"{kind} texts (docs/s):")
        for who, rows in by_who.items():
            click.echo(f"  {who:<13} " + "  ".join(f"b{r['batch_size']}={r['docs_per_s']:.0f}" for r in rows))
    if "speedup_short_batch32" in result:
        click.echo(f"short texts, batch 32: {result['speedup_short_batch32']:.1f}x transformers' pipeline")
