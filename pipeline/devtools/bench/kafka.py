"""``ner-stage bench kafka``: the whole Kafka stage, end to end, against its two references.

On the same reproducible mixed-length documents (mostly short, some medium, a few longer than
the model window), one run measures:

1. **engine-only**: ``NerService.entities`` (tokenize + engine + decode) in batches of
   ``batch_max_records``, in this process, no Kafka: the ceiling the stage is held to. Its first
   half of the documents runs before the other passes and its second half after them, so slow
   drifts in machine load weigh on both sides of the ratio alike;
2. **stage compute**: the worker's ``BatchProcessor`` (JSON decode, tokenize, infer, decode,
   redact, encode both outputs) on in-memory records, no broker: separates our per-record work
   from Kafka I/O;
3. **Kafka end to end**: the real worker (``ner-stage worker``'s code, in a child process, at-least-once)
   against a local broker (Apache Kafka; Tansu only without Java/Maven, never under CI; or
   ``--bootstrap``). Timing starts after a warm-up document has come back (group joined, model
   warm), when the producer starts writing the documents, and stops when every document has both
   its entity and its redacted record;
4. **naive worker**: poll one record, run transformers' token-classification pipeline on the
   float32 model (``engines.reference.float32_checkpoint``), produce, flush, commit; per record.
   It is slow, so it runs on an evenly spaced subset (``--naive-docs``) with the same length mix;
   its time for all documents is extrapolated by tokens and labelled as such in the JSON.

With ``--compression-type none,gzip,snappy,lz4,zstd`` pass 3 runs once per output codec, on fresh
topics, and each run also measures the **bytes on the wire** its outputs cost: a fresh consumer
reads both output topics from the beginning after the run, and the broker-level ``rxbytes`` of
its librdkafka statistics (record batches as the worker's producer compressed them, plus fetch
framing) is set beside the sum of the records' key and value sizes (uncompressed).

Targets (issue 4): end to end >= 85% of engine-only docs/s; >= 5x the naive worker.

With ``--records N`` (default 600; 0 skips) the records case runs too: N records of 3 text
fields redacted in place vs the same texts joined in one envelope document, side by side
(``kafka_records.py``; issue 20's target: in-place >= 0.95 of the envelope's docs/s).

The passes run one after another, so other work on the machine skews their ratio; the JSON
records the 1-minute load average after each pass (``os.getloadavg``) to make that visible.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
import time
import uuid
from pathlib import Path

import click

from pipeline.cli.options import model_options, model_settings
from pipeline.devtools.bench.common import progress, pyplot, sample_texts, save
from pipeline.devtools.bench.in_memory import processor_seconds
from pipeline.devtools.bench.kafka_codecs import codec_cpu, codec_stage, parse_codecs, print_codecs, wire_bytes
from pipeline.devtools.bench.kafka_records import print_records, records_case

TARGET_VS_ENGINE = 0.85
TARGET_VS_NAIVE = 5.0


def mixed_texts(n: int, seed: int = 11) -> list[str]:
    """75% short (10-40 words), 20% medium (80-200), 5% long (400-700: several model windows)."""
    short, medium = round(n * 0.75), round(n * 0.20)
    texts = (sample_texts(short, 10, 40, seed=seed) + sample_texts(medium, 80, 200, seed=seed + 1)
             + sample_texts(n - short - medium, 400, 700, seed=seed + 2))
    random.Random(seed).shuffle(texts)
    return texts


def _documents(texts: list[str]) -> list[tuple[bytes, bytes]]:
    import orjson

    return [(f"doc-{i}".encode(), orjson.dumps({"id": f"doc-{i}", "text": t})) for i, t in enumerate(texts)]


def _engine_only(service, texts: list[str], batch: int) -> tuple[float, list]:
    started = time.perf_counter()
    spans = []
    for i in range(0, len(texts), batch):
        spans.extend(service.entities(texts[i : i + batch]))
    return time.perf_counter() - started, spans


def _stage_compute(service, stage, docs: list[tuple[bytes, bytes]], batch: int) -> float:
    from pipeline.kafka.processor import BatchProcessor
    from schemas.codec import create_codec

    kafka = stage.kafka
    processor = BatchProcessor(service, create_codec("json"), entities_topic=kafka.entities_topic,
                               redacted_topic=kafka.redacted_topic, dlq_topic=kafka.dlq_topic,
                               max_text_chars=kafka.max_text_chars, redact=stage.redact)
    return processor_seconds(processor, docs, batch)


def _produce(bootstrap: str, topic: str, docs: list[tuple[bytes, bytes]], client: dict | None = None) -> None:
    """``client``: a secured cluster's librdkafka settings (here and in every helper below)."""
    from confluent_kafka import Producer

    from pipeline.kafka.errors import DeliveryError

    producer = Producer({**(client or {}), "bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5, "compression.type": "lz4"})
    for key, value in docs:
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120):
        raise DeliveryError("benchmark documents were not acknowledged by the broker")


def _reader(bootstrap: str, topics: list[str], client: dict | None = None):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({**(client or {}), "bootstrap.servers": bootstrap,
                         "group.id": f"bench-reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                         "isolation.level": "read_committed",
                         "fetch.wait.max.ms": 10})
    parts = []
    for topic in topics:
        for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
            parts.append(TopicPartition(topic, p, OFFSET_BEGINNING))
    consumer.assign(parts)
    return consumer


def _wait_for(consumer, wanted: dict[str, set[bytes]], timeout_s: float, worker, keep: dict | None = None) -> float:
    """Read until every topic in ``wanted`` has delivered every key; returns the finish time."""
    from pipeline.kafka.errors import KafkaStageError

    deadline = time.monotonic() + timeout_s
    missing = sum(len(keys) for keys in wanted.values())
    while missing:
        if time.monotonic() > deadline:
            raise KafkaStageError(f"{missing} output records still missing after {timeout_s:.0f}s")
        if not worker.is_alive():
            raise KafkaStageError(f"the worker process exited with code {worker.exitcode}; see the log above")
        for msg in consumer.consume(1000, 0.2):
            if msg.error():
                continue
            keys = wanted.get(msg.topic())
            if keys is not None and msg.key() in keys:
                keys.discard(msg.key())
                missing -= 1
                if keep is not None and msg.topic() in keep:
                    keep[msg.topic()].append(msg.value())
    return time.perf_counter()


def _kafka_end_to_end(bootstrap: str, stage, docs: list[tuple[bytes, bytes]], timeout_s: float,
                      client: dict | None = None) -> dict:
    """``client``: the admin's settings on a secured cluster (the worker's own are in ``stage``)."""
    from pipeline.devtools.brokers.admin import create_topics
    from pipeline.kafka.supervisor import run_one

    kafka = stage.kafka
    outputs = [kafka.entities_topic, kafka.redacted_topic]
    create_topics(bootstrap, [*kafka.input, *outputs, kafka.dlq_topic], partitions=1, client=client)
    child = multiprocessing.get_context("spawn").Process(target=run_one, args=(stage, 0), name="bench-worker")
    child.start()
    reader = _reader(bootstrap, [*outputs, kafka.dlq_topic], client)
    try:
        progress("  worker starting (model load, group join); waiting for a warm-up document")
        _produce(bootstrap, kafka.input[0], [(b"warmup", b'{"id": "warmup", "text": "Hi, I am Ann Lee."}')], client)
        _wait_for(reader, {t: {b"warmup"} for t in outputs}, timeout_s, child)
        progress(f"  worker ready; streaming {len(docs)} documents")
        wanted = {t: {k for k, _ in docs} for t in outputs}
        kept: dict[str, list[bytes]] = {t: [] for t in outputs}
        started = time.perf_counter()
        producer = threading.Thread(target=_produce, args=(bootstrap, kafka.input[0], docs, client), daemon=True)
        producer.start()
        finished = _wait_for(reader, wanted, timeout_s, child, kept)
        producer.join()
        extra = reader.consume(1000, 1.0)  # anything more would be a duplicate or a dead letter
        return {"seconds": finished - started, "entity_values": kept[kafka.entities_topic],
                "output_values": [v for t in outputs for v in kept[t]],
                "extra_records": sum(1 for m in extra if not m.error())}
    finally:
        reader.close()
        if child.is_alive():
            child.terminate()  # SIGTERM: the worker drains, commits and exits 0
        child.join(60)
        if child.is_alive():
            child.kill()
            child.join()


def _naive_worker(bootstrap: str, texts: list[str], threads: int | None, timeout_s: float) -> dict | None:
    """Poll ONE record, run transformers' pipeline, produce, flush, commit: per record."""
    try:
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline
    except ImportError:
        progress("transformers/torch not installed: naive worker skipped (pip install 'ner-stage[export]')")
        return None
    import orjson
    from confluent_kafka import Consumer, Producer, TopicPartition

    from engines.reference import float32_checkpoint
    from pipeline.devtools.brokers.admin import create_topics

    if threads:
        torch.set_num_threads(threads)
    path = str(float32_checkpoint())
    model = AutoModelForTokenClassification.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    # the checkpoint's tokenizer has no length limit; with it, the pipeline windows long texts (stride)
    tokenizer.model_max_length = model.config.max_position_embeddings
    pipe = pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="first",
                    stride=64, device=-1)
    pipe("warm up, John Smith")
    run = uuid.uuid4().hex[:8]
    source, sink = f"bench-naive-in-{run}", f"bench-naive-out-{run}"
    create_topics(bootstrap, [source, sink])
    _produce(bootstrap, source, _documents(texts))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-naive-{run}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(source, 0, 0)])
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    done = 0
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    try:
        while done < len(texts) and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            doc = orjson.loads(msg.value())
            spans = pipe(doc["text"])
            record = {"id": doc["id"], "entities": [{"label": s["entity_group"], "start": int(s["start"]),
                                                     "end": int(s["end"]), "score": float(s["score"])}
                                                    for s in spans]}
            producer.produce(sink, value=orjson.dumps(record), key=msg.key())
            producer.flush(30)
            consumer.commit(message=msg, asynchronous=False)
            done += 1
    finally:
        consumer.close()
    return {"seconds": time.perf_counter() - started, "docs": done}


def _plot(result: dict, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    rows = result["throughput_docs_per_s"]
    names = [n for n in ("engine_only", "stage_compute", "kafka_end_to_end", "naive_worker") if n in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    ticks = [n.replace("naive_worker", "naive_worker\n(subset, extrapolated)") for n in names]
    bars = left.bar(ticks, [rows[n] for n in names], color=["#4c72b0", "#8172b2", "#55a868", "#c44e52"][: len(names)])
    left.bar_label(bars, fmt="%.1f")
    left.set_ylabel("documents / s")
    left.set_title(f"{result['docs']} mixed-length documents ({result['docs_tokens']} tokens)")
    ratios = result["ratios"]
    labels, values, targets = [], [], []
    if "end_to_end_vs_engine_only" in ratios:
        labels.append("end-to-end / engine-only")
        values.append(ratios["end_to_end_vs_engine_only"])
        targets.append(TARGET_VS_ENGINE)
    if "speedup_vs_naive" in ratios:
        labels.append("speed-up vs naive worker\n(naive extrapolated)")
        values.append(ratios["speedup_vs_naive"])
        targets.append(TARGET_VS_NAIVE)
    for i, (value, target) in enumerate(zip(values, targets, strict=True)):
        ax = right if i == 0 else right.twinx()
        ax.bar([i], [value], color="#55a868" if value >= target else "#c44e52", width=0.5)
        ax.hlines(target, i - 0.3, i + 0.3, colors="black", linestyles="--")
        ax.text(i, value, f"{value:.2f}" + ("x" if i else ""), ha="center", va="bottom")
        ax.set_ylim(0, max(value, target) * 1.25)
    right.set_xticks(range(len(labels)), labels)
    right.set_title("targets (dashed): >= 0.85 of engine-only, >= 5x naive")
    fig.suptitle(f"ner-stage bench kafka: {result['engine']} / {result['model']}, broker {result['broker']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@click.command("kafka")
@click.option("--docs", type=int, default=10_000, show_default=True, help="Mixed-length documents end to end.")
@click.option("--naive-docs", type=int, default=150, show_default=True,
              help="Evenly spaced subset for the (slow) naive worker; 0 skips it. Its full time is extrapolated.")
@click.option("--bootstrap", default=None, help="Use this Kafka cluster instead of a local broker.")
@click.option("--broker", "broker_kind", type=click.Choice(["apache", "tansu"]), default=None,
              help="Local broker without --bootstrap: apache (default; Apache Kafka via Java, see `ner-stage broker`) "
                   "or tansu. Without Java/Maven it falls back to tansu with a note, except under CI=true.")
@click.option("--stage-compute/--no-stage-compute", default=True, show_default=True,
              help="Also time the worker's BatchProcessor on in-memory records (no broker).")
@click.option("--timeout", type=float, default=1800.0, show_default=True,
              help="Longest wait in seconds for the end-to-end run's outputs.")
@click.option("--compression-type", "codecs", default=None, metavar="CODEC[,CODEC...]",
              help="Output codec(s) of the worker (none, gzip, snappy, lz4, zstd); several, comma-separated, run the "
                   "end-to-end pass once each, side by side, with its bytes on the wire (default: the worker's "
                   "setting, NER_COMPRESSION_TYPE).")
@click.option("--records", "records", type=int, default=600, show_default=True,
              help="Records case: this many records of 3 text fields redacted in place vs the same texts joined in "
                   "one envelope document, side by side (kafka_records.py); 0 skips it.")
@click.option("--security", type=click.Choice(["sasl_ssl", "mtls"]), default=None,
              help="Also run the end-to-end pass on a second local Apache Kafka with this security (TLS, SCRAM or "
                   "client certificates, ACLs; the worker as a user with only its documented ACLs), alternating "
                   "with the plaintext pass, and report secured / plaintext docs/s (target >= 0.95).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="bench-results", show_default=True,
              help="Directory for kafka.json and kafka.png.")
@model_options
def command(docs, naive_docs, bootstrap, broker_kind, stage_compute, codecs, records, security, timeout, out_dir,
            **kwargs) -> None:
    """Kafka stage throughput end to end vs engine-only and vs a naive per-record worker."""
    from pipeline.config import DecodeSettings
    from pipeline.devtools.brokers import admin
    from pipeline.kafka.settings import KafkaSettings
    from pipeline.kafka.supervisor import StageSettings
    from pipeline.redact import RedactSettings
    from pipeline.service import NerService

    config = kwargs.get("config_file")
    model = model_settings(kwargs)
    texts = mixed_texts(docs)
    documents = _documents(texts)
    progress(f"loading {model.model} on {model.engine}")
    service = NerService.from_settings(model, DecodeSettings.load(config))
    tokens = [service.count_tokens(t) for t in texts]
    run = uuid.uuid4().hex[:8]
    with _broker(bootstrap, broker_kind) as broker:
        kafka = KafkaSettings.load(
            config, bootstrap=broker.bootstrap, input=[f"bench-in-{run}"], group=f"bench-{run}",
            entities_topic=f"bench-entities-{run}", redacted_topic=f"bench-redacted-{run}",
            dlq_topic=f"bench-dlq-{run}", metrics_port=0,
            session_timeout_ms=admin.FAST_GROUP_CONFIG["session.timeout.ms"] if bootstrap is None else None)
        stage = StageSettings(kafka=kafka, model=model, decode=DecodeSettings.load(config),
                              redact=RedactSettings.load(config))
        batch = kafka.batch_max_records
        result: dict = {"engine": model.engine, "model": service.bundle.name, "revision": service.bundle.revision,
                        "threads": model.threads, "broker": broker.label,
                        "docs": len(texts), "docs_tokens": sum(tokens), "batch_max_records": batch,
                        "delivery": kafka.delivery, "seconds": {}, "throughput_docs_per_s": {}}
        half = len(texts) // 2
        progress(f"engine-only, first half: {half} of {len(texts)} documents ({sum(tokens)} tokens in all), "
                 f"batches of {batch}")
        first_s, reference = _engine_only(service, texts[:half], batch)
        if stage_compute:
            progress("stage compute: BatchProcessor on in-memory records (decode, infer, redact, encode)")
            _record(result, "stage_compute", _stage_compute(service, stage, documents, batch))
        codec_names = parse_codecs(codecs, kafka.compression_type)
        result["compression"] = {}
        e2e = None
        for codec in codec_names:
            progress(f"Kafka end to end through the worker, outputs {codec} (broker {broker.bootstrap})")
            runs = codec_stage(stage, codec, run) if len(codec_names) > 1 else stage
            outcome = _kafka_end_to_end(broker.bootstrap, runs, documents, timeout)
            wire = wire_bytes(broker.bootstrap, [runs.kafka.entities_topic, runs.kafka.redacted_topic],
                               2 * (len(documents) + 1))
            result["compression"][codec] = {"seconds": outcome["seconds"],
                                            "docs_per_s": len(documents) / outcome["seconds"],
                                            "load_average_1min_after": round(os.getloadavg()[0], 2), **wire}
            progress(f"  {codec}: {len(documents) / outcome['seconds']:.1f} docs/s, {wire['wire_bytes']} bytes "
                     f"on the wire for {wire['record_bytes']} bytes of records")
            e2e = e2e or outcome
        _record(result, "kafka_end_to_end", e2e["seconds"])
        result["kafka_end_to_end_codec"] = codec_names[0]
        if security:
            from pipeline.devtools.bench.kafka_security import compare_security

            result["security"] = compare_security(security, stage, broker, documents, timeout, run,
                                                  e2e["seconds"], _kafka_end_to_end)
        if len(codec_names) > 1:
            progress(f"codec CPU: producing the {len(e2e['output_values'])} output records again with each codec")
            result["codec_cpu"] = codec_cpu(broker.bootstrap, e2e["output_values"],
                                             ["none", *[c for c in codec_names if c != "none"]], run)
        if records:
            result["records_case"] = records_case(service, stage, mixed_texts(3 * records, seed=29),
                                                  broker.bootstrap, run, timeout, _kafka_end_to_end)
        progress(f"engine-only, second half: {len(texts) - half} documents")
        second_s, rest = _engine_only(service, texts[half:], batch)
        _record(result, "engine_only", first_s + second_s)
        result["engine_only_halves_docs_per_s"] = [half / first_s if half else None,
                                                   (len(texts) - half) / second_s]
        result["end_to_end_check"] = _check(e2e, _one_answers(stage, texts, reference + rest))
        del service
        if naive_docs:
            step = max(1, len(texts) // naive_docs)
            subset = texts[::step][:naive_docs]
            subset_tokens = sum(tokens[::step][:naive_docs])
            progress(f"naive worker on {len(subset)} of {len(texts)} documents (every {step}th)")
            naive = _naive_worker(broker.bootstrap, subset, model.threads, timeout)
            if naive is not None and naive["docs"]:
                full = naive["seconds"] * sum(tokens) / subset_tokens
                result["naive_worker"] = {
                    "measured_docs": naive["docs"], "measured_tokens": subset_tokens,
                    "measured_seconds": naive["seconds"], "extrapolated": True,
                    "extrapolated_seconds_all_docs": full,
                    "note": "measured on an evenly spaced subset; time for all documents scaled by token count"}
                result["seconds"]["naive_worker_extrapolated"] = full
                result["throughput_docs_per_s"]["naive_worker"] = len(texts) / full
    _ratios(result)
    path = save(result, Path(out_dir), "kafka")
    _plot(result, Path(out_dir) / "kafka.png")
    _print(result)
    click.echo(f"saved {path} and {Path(out_dir) / 'kafka.png'}")


def _broker(bootstrap: str | None, kind: str | None):
    """The cluster to measure on: ``--bootstrap``, else a local Apache Kafka (or Tansu).

    Apache Kafka is the default because users run it; Tansu stands in, with a note, only where
    Java or Maven is missing and never under ``CI=true``."""
    from pipeline.config import running_in_ci
    from pipeline.devtools.brokers import embedded
    from pipeline.devtools.brokers.apache import KAFKA_VERSION, ApacheKafkaUnavailableError, start_apache

    if bootstrap is not None:
        return _External(bootstrap)
    if kind != "tansu":
        try:
            cluster = start_apache(progress=progress)
            cluster.label = f"apache {KAFKA_VERSION} (local, 1 node)"
            return cluster
        except ApacheKafkaUnavailableError as exc:
            if kind == "apache" or running_in_ci():
                raise
            progress(f"note: measuring on the Tansu broker instead of Apache Kafka: {exc}")
    broker = embedded.start_broker("tansu")
    broker.label = "tansu (local)"
    return broker


class _External:
    """An external cluster in the same ``with`` shape as a LocalBroker."""

    label = "external"

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def __enter__(self) -> _External:
        return self

    def __exit__(self, *exc_info) -> None:
        return None


def _record(result: dict, name: str, seconds: float) -> None:
    result.setdefault("load_average_1min_after", {})[name] = round(os.getloadavg()[0], 2)
    result["seconds"][name] = seconds
    result["throughput_docs_per_s"][name] = result["docs"] / seconds
    progress(f"  {name}: {seconds:.1f} s, {result['docs'] / seconds:.1f} docs/s")


def _one_answers(stage, texts: list[str], model_spans: list) -> list:
    """What the stage should answer per document, computed in process (untimed): the redactor's
    merged detections over the engine-only model spans, as ``/redact`` and the processor do."""
    from pipeline.redact import Redactor

    redactor = Redactor.from_settings(stage.redact)
    return [redactor.redact_spans(text, spans).entities for text, spans in zip(texts, model_spans, strict=True)]


def _check(e2e: dict, reference: list) -> dict:
    """Kafka entity records vs the in-process answer for the same documents (label, start, end)."""
    import orjson

    records = [orjson.loads(v) for v in e2e["entity_values"]]
    by_id = {r["id"]: [(e["label"], e["start"], e["end"]) for e in r["entities"]] for r in records}
    same = sum(1 for i, spans in enumerate(reference)
               if by_id.get(f"doc-{i}") == [(e.label, e.start, e.end) for e in spans])
    return {"entity_records": len(records), "spans_equal_in_process": same, "documents": len(reference),
            "records_after_completion": e2e["extra_records"]}


def _ratios(result: dict) -> None:
    rows, ratios = result["throughput_docs_per_s"], {}
    if "engine_only" in rows and "kafka_end_to_end" in rows:
        ratios["end_to_end_vs_engine_only"] = rows["kafka_end_to_end"] / rows["engine_only"]
    if "stage_compute" in rows and "kafka_end_to_end" in rows:
        ratios["end_to_end_vs_stage_compute"] = rows["kafka_end_to_end"] / rows["stage_compute"]
    if "naive_worker" in rows and "kafka_end_to_end" in rows:
        ratios["speedup_vs_naive"] = rows["kafka_end_to_end"] / rows["naive_worker"]
    result["ratios"] = ratios
    result["targets"] = {
        "end_to_end_vs_engine_only": {"target": TARGET_VS_ENGINE,
                                      "met": ratios.get("end_to_end_vs_engine_only", 0) >= TARGET_VS_ENGINE},
        "speedup_vs_naive": {"target": TARGET_VS_NAIVE, "met": ratios.get("speedup_vs_naive", 0) >= TARGET_VS_NAIVE},
    }


def _print(result: dict) -> None:
    click.echo(f"{result['docs']} mixed-length documents, {result['docs_tokens']} tokens:")
    for name, rate in result["throughput_docs_per_s"].items():
        note = " (extrapolated from a subset)" if name == "naive_worker" else ""
        click.echo(f"  {name:<18} {rate:9.1f} docs/s{note}")
    for name, value in result["ratios"].items():
        target = result["targets"].get(name)
        mark = "" if target is None else f"  (target {target['target']}: {'met' if target['met'] else 'MISSED'})"
        click.echo(f"  {name:<28} {value:6.2f}{mark}")
    print_codecs(result)
    print_records(result)
    if "security" in result:
        from pipeline.devtools.bench.kafka_security import print_security

        print_security(result["security"])
    check = result.get("end_to_end_check")
    if check:
        click.echo(f"  entity records {check['entity_records']} for {check['documents']} documents; spans equal to the "
                   f"in-process answer for {check['spans_equal_in_process']}; {check['records_after_completion']} "
                   "records after completion")
