"""``ner-stage bench engine --models A,B``: two bundles of one model side by side (e.g. the
default ``rampart`` and ``rampart-int8``), with the answers compared, not only the speed.

Everything runs in one process on the same texts; speed is measured in interleaved rounds
(A, B, A, B, ...) and reported as medians, so load from other work on the machine hits both
alike. Against the first model (the reference) it reports, on the development (``dev``) and
held-out (``heldout``) corpora of ``pii_corpus``:

- token-argmax agreement (every content token of every text);
- the share of texts whose spans are identical (label, start, end) for every aggregation
  strategy, and for the entity spans Kafka and redaction use (``first`` + recall decoding);
- redaction leak rates per PII type and over-redaction, with the difference in points;
- the gates of issue 25 (spans >= 99.5 % identical per strategy on held-out text; leak rates
  within +0.3 points per type; over-redaction not higher), each PASS or FAIL.

Also: the operator types onnxruntime's profiler saw (which int8 kernels ran), the measured
float32 and int8 GEMM rates of this host on the model's largest shape, and the fraction of the
matching one each model reaches (weight multiply-adds x padded tokens/s), with the CPU flags.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import click
import numpy as np

from engines.ort_profile import matmul_rate, op_profile, weight_macs_per_token
from pipeline.devtools.bench.common import percentiles, progress, pyplot, sample_texts, save, time_calls
from pipeline.devtools.bench.pii_corpus import TYPES, corpus
from pipeline.devtools.bench.redact import cpu_flags
from pipeline.devtools.bench.redact_metrics import leak_rates, over_redaction
from pipeline.service import AGGREGATIONS, NerService, PredictOptions

SHORT_TEXT = "My name is John Smith and my email is john.smith@example.com"
INT8_OPS = ("DynamicQuantizeMatMul", "MatMulInteger", "MatMulIntegerToFloat", "QLinearMatMul", "QGemm")
SPAN_GATE, LEAK_GATE_POINTS = 0.995, 0.3


def _spans(service: NerService, doc, logits, strategy: str) -> list[tuple]:
    if strategy == "entities":
        return [(e.label, e.start, e.end) for e in service.doc_entities(doc, logits)]
    return [(p.label, p.start, p.end) for p in service.predictions(doc, logits, PredictOptions(aggregation=strategy))]


def agreement(ref: NerService, other: NerService, texts: list[str]) -> dict:
    """Token-argmax agreement and per-strategy identical-span shares of ``other`` against ``ref``."""
    docs = ref.encode(texts)
    a, b = ref.infer(docs), other.infer(docs)
    tokens = np.concatenate([x.argmax(-1) == y.argmax(-1) for x, y in zip(a, b, strict=True)])
    out = {"texts": len(texts), "token_argmax_agreement": float(tokens.mean()) if tokens.size else 1.0, "spans": {}}
    for strategy in (*AGGREGATIONS, "entities"):
        same = [_spans(ref, d, x, strategy) == _spans(ref, d, y, strategy) for d, x, y in zip(docs, a, b, strict=True)]
        out["spans"][strategy] = float(np.mean(same))
    return out


def redaction(service: NerService, docs, config_file: str | None) -> dict:
    from pipeline.redact import Redactor, RedactSettings

    redactor = Redactor.from_settings(RedactSettings.load(config_file), service)
    spans = [[(e.start, e.end, e.source) for e in r.entities] for r in redactor.redact([d.text for d in docs])]
    over = over_redaction(docs, spans)
    return {"types": leak_rates(docs, spans), "over_redaction": over["over_redaction"]}


def _speed(services: dict[str, NerService], rounds: int, texts: list[str], batch: int, latency_runs: int,
           gemm: tuple[int, int, int], threads: int | None) -> tuple[dict, dict]:
    """Per model: median docs/s, engine padded tokens/s, latency; and the best GEMM rate per kind,
    all measured in the same interleaved rounds."""
    peaks: dict[str, list[float]] = {"fp32": [], "int8": []}
    options = PredictOptions(aggregation="simple")
    docs_s: dict[str, list[float]] = {m: [] for m in services}
    engine_tok_s: dict[str, list[float]] = {m: [] for m in services}
    lat: dict[str, list[float]] = {m: [] for m in services}
    padded: dict[str, list[int]] = {m: [0] for m in services}
    for name, service in services.items():
        service.add_batch_listener(lambda stats, name=name: padded[name].__setitem__(0, padded[name][0]
                                                                                  + stats.padded_tokens))
    encoded = {m: s.encode(texts) for m, s in services.items()}
    for r in range(rounds):
        for name, service in services.items():  # A, B, A, B: drift hits both alike
            service.max_batch_size = batch
            started = time.perf_counter()
            for i in range(0, len(texts), batch):
                service.predict(texts[i : i + batch], options)
            docs_s[name].append(len(texts) / (time.perf_counter() - started))
            padded[name][0] = 0
            started = time.perf_counter()
            service.infer(encoded[name])
            engine_tok_s[name].append(padded[name][0] / (time.perf_counter() - started))
            lat[name] += time_calls(lambda service=service: service.predict([SHORT_TEXT], options),
                                    max(1, latency_runs // rounds), warmup=5)
        for kind in peaks:
            peaks[kind].append(matmul_rate(kind, *gemm, threads, seconds=0.5))
        progress(f"  round {r + 1}/{rounds}: " + "  ".join(f"{m} {docs_s[m][-1]:.0f} docs/s" for m in services))
    per_model = {m: {"docs_per_s": statistics.median(docs_s[m]), "docs_per_s_rounds": docs_s[m],
                     "engine_padded_tokens_per_s": statistics.median(engine_tok_s[m]),
                     "latency_single_short": percentiles(lat[m])} for m in services}
    return {kind: max(v) for kind, v in peaks.items()}, per_model


def _gates(result: dict, ref: str, other: str) -> dict:
    held = result["agreement"][other]["heldout"]["spans"]
    gates = {f"spans_{s}": {"value": held[s], "limit": SPAN_GATE, "pass": held[s] >= SPAN_GATE} for s in AGGREGATIONS}
    for corpus_name, rows in result["redaction"].items():
        for t in TYPES:
            delta = (rows[other]["types"][t]["leak_rate"] - rows[ref]["types"][t]["leak_rate"]) * 100
            gates[f"leak_{corpus_name}_{t}"] = {"value": delta, "limit": LEAK_GATE_POINTS,
                                                "pass": delta <= LEAK_GATE_POINTS + 1e-9}
        delta = (rows[other]["over_redaction"] - rows[ref]["over_redaction"]) * 100
        gates[f"over_redaction_{corpus_name}"] = {"value": delta, "limit": 0.0, "pass": delta <= 1e-9}
    speed = result["speed"]
    p50 = (speed[other]["latency_single_short"]["p50_ms"], speed[ref]["latency_single_short"]["p50_ms"])
    gates["single_text_p50"] = {"value": p50[0] / p50[1], "limit": 1.0, "pass": p50[0] <= p50[1]}
    return gates


def compare(models: list[str], settings, *, out_dir: Path, rounds: int, n_docs: int, latency_runs: int,
            batch_size: int, config_file: str | None) -> dict:
    """Run every measurement for ``models`` (the first is the reference); save, plot and print."""
    services = {}
    for model in models:
        progress(f"loading {model} on {settings.engine}")
        services[model] = NerService.from_settings(settings.model_copy(update={"model": model}))
    ref = models[0]
    texts = sample_texts(256, 10, 30, seed=1)
    result: dict = {"models": models, "reference": ref, "engine": settings.engine, "threads": settings.threads,
                    "cpu_flags": cpu_flags(), "rounds": rounds, "batch_size": batch_size,
                    "revisions": {m: s.bundle.revision for m, s in services.items()}}
    config = services[ref].bundle.extra["config"]
    gemm = (2048, int(config.get("hidden_size", 768)), int(config.get("intermediate_size", 3072)))
    progress(f"speed: {rounds} interleaved rounds of {len(texts)} short texts (batch {batch_size}), latency, "
             f"GEMM {gemm[0]}x{gemm[1]}x{gemm[2]}")
    peaks, result["speed"] = _speed(services, rounds, texts, batch_size, latency_runs, gemm, settings.threads)
    corpora = {"dev": corpus("dev", n_docs), "heldout": corpus("heldout", n_docs)}
    result["agreement"], result["redaction"] = {}, {}
    for name, docs in corpora.items():
        progress(f"answers on {n_docs} {name} documents")
        for model in models[1:]:
            result["agreement"].setdefault(model, {})[name] = agreement(services[ref], services[model],
                                                                        [d.text for d in docs])
        result["redaction"][name] = {m: redaction(s, docs, config_file) for m, s in services.items()}
    progress("kernels (onnxruntime profiler)")
    batch = services[ref].encode(texts[:32])
    width = max(len(d.ids) for d in batch) + 2
    ids = np.zeros((len(batch), width), np.int64)
    mask = np.zeros_like(ids)
    for row, doc in enumerate(batch):
        seq = np.concatenate([services[ref].encoder.prefix, doc.ids, services[ref].encoder.suffix])
        ids[row, : len(seq)], mask[row, : len(seq)] = seq, 1
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    macs = weight_macs_per_token(config)
    result["gemm_peak_ops_per_s"] = peaks
    result["weight_macs_per_token"] = macs
    result["kernels"], result["roofline"] = {}, {}
    for model, service in services.items():
        ops = op_profile(service.bundle.onnx_path, feed, settings.threads)
        kind = "int8" if any(op in INT8_OPS for op in ops) else "fp32"
        achieved = result["speed"][model]["engine_padded_tokens_per_s"] * 2 * macs
        result["kernels"][model] = ops
        result["roofline"][model] = {"kind": kind, "achieved_ops_per_s": achieved, "fraction": achieved / peaks[kind]}
    for model in models[1:]:
        result.setdefault("gates", {})[model] = _gates(result, ref, model)
        result.setdefault("speedup", {})[model] = (result["speed"][model]["docs_per_s"]
                                                   / result["speed"][ref]["docs_per_s"])
    path = save(result, out_dir, "engine-models")
    _plot(result, out_dir / "engine-models.png")
    _print(result)
    click.echo(f"saved {path} and {out_dir / 'engine-models.png'}")
    return result


def _plot(result: dict, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    models, ref = result["models"], result["reference"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    axes[0].bar(models, [result["speed"][m]["docs_per_s"] for m in models], color=["C0", "C1", "C2"][: len(models)])
    axes[0].set_ylabel("docs/s (median of rounds)")
    axes[0].set_title(f"short texts, batch {result['batch_size']}")
    strategies = [*AGGREGATIONS, "entities"]
    for k, model in enumerate(models[1:]):
        for j, name in enumerate(("dev", "heldout")):
            spans = result["agreement"][model][name]["spans"]
            axes[1].bar([x + (2 * k + j) * 0.35 for x in range(len(strategies))],
                        [spans[s] * 100 for s in strategies], 0.35, label=f"{model} {name}")
    axes[1].axhline(SPAN_GATE * 100, color="k", ls="--", lw=1, label="gate 99.5 %")
    axes[1].set_xticks([x + 0.175 for x in range(len(strategies))], strategies)
    axes[1].set_ylabel(f"texts with spans identical to {ref} (%)")
    axes[1].legend(fontsize=8)
    width = 0.8 / len(models)
    for k, model in enumerate(models):
        rates = [result["redaction"]["heldout"][model]["types"][t]["leak_rate"] * 100 for t in TYPES]
        axes[2].bar([x + k * width for x in range(len(TYPES))], rates, width, label=model)
    axes[2].set_xticks([x + width * (len(models) - 1) / 2 for x in range(len(TYPES))], TYPES)
    axes[2].set_ylabel("held-out planted values left visible (%)")
    axes[2].legend()
    fig.suptitle("ner-stage bench engine --models: " + " vs ".join(models) + "\nCPU " + " ".join(result["cpu_flags"]),
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _print(result: dict) -> None:
    models = result["models"]
    click.echo("CPU flags: " + " ".join(result["cpu_flags"]) + f"; threads: {result['threads'] or 'all'}")
    click.echo(f"{'':<34}" + "".join(f"{m:>16}" for m in models))
    speed = result["speed"]
    click.echo(f"{'docs/s (median)':<34}" + "".join(f"{speed[m]['docs_per_s']:>16.1f}" for m in models))
    for key in ("p50_ms", "p99_ms"):
        click.echo(f"{'single text ' + key:<34}" + "".join(f"{speed[m]['latency_single_short'][key]:>16.2f}"
                                                           for m in models))
    roof = result["roofline"]
    click.echo(f"{'GEMM ops/s reached (of peak)':<34}" + "".join(
        f"{roof[m]['achieved_ops_per_s'] / 1e9:>9.1f}G {roof[m]['fraction']:>4.0%}" for m in models))
    peaks = result["gemm_peak_ops_per_s"]
    click.echo("host GEMM peak: " + ", ".join(f"{k} {v / 1e9:.1f} GOP/s" for k, v in peaks.items()))
    for model in models:
        top = ", ".join(f"{op} {share:.0%}" for op, share in list(result["kernels"][model].items())[:4])
        click.echo(f"kernels {model}: {top}")
    for model in models[1:]:
        for name, row in result["agreement"][model].items():
            click.echo(f"{model} vs {result['reference']} on {row['texts']} {name} texts: token argmax "
                       f"{row['token_argmax_agreement']:.4f}; identical spans "
                       + ", ".join(f"{s} {v:.3f}" for s, v in row["spans"].items()))
    for name, rows in result["redaction"].items():
        click.echo(f"leak rates, {name}: " + "; ".join(
            f"{t} " + "/".join(f"{rows[m]['types'][t]['leak_rate'] * 100:.1f}" for m in models) for t in TYPES)
            + "; over-redaction " + "/".join(f"{rows[m]['over_redaction'] * 100:.2f}" for m in models) + " (%)")
    for model, gates in result.get("gates", {}).items():
        failed = [k for k, g in gates.items() if not g["pass"]]
        click.echo(f"gates {model}: {len(gates) - len(failed)}/{len(gates)} pass"
                   + (f"; FAIL: {', '.join(failed)}" if failed else "")
                   + f"; docs/s {result['speedup'][model]:.2f}x")
