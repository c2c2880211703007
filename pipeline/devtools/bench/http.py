"""``ner-stage bench http``: the HTTP server's own cost, and ours vs a transformers server.

What it measures, in one run, on one short text (aggregation ``simple`` on both sides):

1. the in-process service path (``NerService.predict``, tokenize + engine + decode) P50/P99;
2. our server (``ner-stage serve`` in a subprocess, plus any ``--serve-flag``) over keep-alive
   HTTP, sequential requests: **server overhead = P50 end-to-end - P50 in-process** (target
   <= 0.5 ms);
3. the same against a baseline: transformers' token-classification pipeline on the float32
   checkpoint of the same model, inside a FastAPI app on the same uvicorn stack (the usual way
   such a model gets served); it is built into a cache dir on first use (export extra);
4. P50/P99 latency and throughput (requests/s) at concurrency 1, 8 and 32 for both.

The client is a minimal raw-socket HTTP/1.1 keep-alive client so that client-side cost
(httpx costs ~0.3 ms a request) does not hide the server's. Both servers stay up for the whole
run but only one is sent requests at a time; sequential samples alternate between the sides in
blocks so that load from other processes on a shared machine hits every side alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import numpy as np
import orjson

from pipeline.cli.options import as_flags, model_options, model_settings
from pipeline.config import ModelSettings
from pipeline.devtools.bench.common import percentiles, progress, pyplot, save, time_calls
from pipeline.devtools.bench.fairness import fairness_figure
from pipeline.devtools.bench.raw_http import HOST, RawClient, content_length, post_request
from pipeline.devtools.processes import free_port
from pipeline.service import NerService, PredictOptions

SHORT_TEXT = "My name is John Smith and my email is john.smith@example.com"


async def _load(port: int, request: bytes, concurrency: int, duration_s: float) -> dict:
    """``concurrency`` keep-alive connections sending requests back to back for ``duration_s``."""
    latencies: list[float] = []
    errors = 0

    async def connection(deadline: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(content_length(head))
                if head.split(b" ", 2)[1] != b"200":
                    errors += 1
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    await asyncio.gather(*(connection(time.perf_counter() + 0.5) for _ in range(concurrency)))  # warm-up
    latencies.clear()
    started = time.perf_counter()
    await asyncio.gather(*(connection(started + duration_s) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, "requests": len(latencies), "errors": errors,
            "requests_per_s": len(latencies) / elapsed, **percentiles(latencies)}


def _wait_ready(port: int, proc: subprocess.Popen, path: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    probe = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"server exited with code {proc.returncode} before becoming ready")
        with contextlib.suppress(OSError, RuntimeError, ConnectionError, ValueError):
            client = RawClient(port)
            try:
                if client.call(probe)[0] == 200:
                    return
            finally:
                client.close()
        time.sleep(0.2)
    raise click.ClickException(f"server on port {port} not ready after {timeout_s:.0f} s")


@contextlib.contextmanager
def _server(argv: list[str], port: int, ready_path: str):
    """A server subprocess, ready; its stderr goes to a temporary file (a pipe could fill up and
    stall it) and is shown if it fails to start."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
        try:
            try:
                _wait_ready(port, proc, ready_path)
            except click.ClickException as exc:
                log.seek(0)
                tail = log.read()[-2000:].decode(errors="replace")
                raise click.ClickException(f"{exc.message}\n{tail}") from exc
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _sequential(service: NerService, options: PredictOptions, ports: dict[str, int], body: bytes, total: int,
                blocks: int) -> dict[str, dict]:
    """P50/P99 of one short text, sequential keep-alive, for the in-process path and each server.

    Samples are taken in ``blocks`` rounds that alternate between the sides (each block after a
    few unrecorded warm-up calls), so load from other processes on the machine hits every side
    alike and the differences (server overhead, speed-up) stay meaningful on a shared box."""
    in_process = lambda: service.predict([SHORT_TEXT], options)  # noqa: E731
    samples: dict[str, list[float]] = {"in_process": [], **{who: [] for who in ports}}
    block_p50: dict[str, list[float]] = {who: [] for who in samples}
    per_block = max(1, total // blocks)
    for block in range(blocks):
        for who in samples:
            if who == "in_process":
                taken = time_calls(in_process, per_block, warmup=10)
            else:
                client = RawClient(ports[who])  # a fresh connection: an idle one may be past keep-alive
                try:
                    call = functools.partial(client.call, post_request(ports[who], "/predict_tokens", body))
                    taken = time_calls(call, per_block, warmup=10)
                finally:
                    client.close()
            # let this side's spinning worker threads (ORT, OpenMP) park before the next side runs
            time.sleep(0.3)
            samples[who] += taken
            block_p50[who].append(percentiles(taken)["p50_ms"])
        progress(f"  sequential block {block + 1}/{blocks}: "
                 + "  ".join(f"{who} P50 {p50[-1]:.2f} ms" for who, p50 in block_p50.items()))
    return {who: {**percentiles(s), "block_p50_ms": block_p50[who]} for who, s in samples.items()}


def _model_flags(settings) -> list[str]:
    return as_flags(ModelSettings, settings.model_dump(exclude_unset=False))


@click.command("http")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="bench-results", show_default=True,
              help="Directory for http.json and http.png.")
@click.option("--sequential", type=int, default=600, show_default=True,
              help="Sequential keep-alive requests per side for the overhead and P50/P99 figures.")
@click.option("--blocks", type=int, default=10, show_default=True,
              help="Sequential samples are taken in this many blocks alternating between the sides.")
@click.option("--concurrency", default="1,8,32", show_default=True, help="Comma-separated client concurrency levels.")
@click.option("--duration", type=float, default=4.0, show_default=True, help="Seconds per concurrency level.")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also measure transformers' pipeline in FastAPI (needs the export extra).")
@click.option("--baseline-model", type=click.Path(file_okay=False), default=None,
              help="float32 Hugging Face checkpoint for the baseline (default: built from the rampart bundle "
                   "into ~/.cache/ner-stage).")
@click.option("--fairness/--no-fairness", default=True, show_default=True,
              help="Also time short requests sent while a 100,000-character request is in flight (ours only).")
@click.option("--serve-flag", "serve_flags", multiple=True,
              help="Extra flag for `ner-stage serve` (repeatable), to compare server settings, e.g. "
                   "--serve-flag=--no-uvloop or --serve-flag=--batch-max-wait-ms=2.")
@model_options
def command(out_dir, sequential, blocks, concurrency, duration, baseline, baseline_model, fairness, serve_flags,
            **kwargs) -> None:
    """Server overhead over the in-process path, and latency/throughput vs a transformers server."""
    settings = model_settings(kwargs)
    levels = [int(c) for c in concurrency.split(",") if c.strip()]
    options = PredictOptions(aggregation="simple")
    body = orjson.dumps({"inputs": [[SHORT_TEXT]], "aggregation_strategy": "simple"})
    result: dict = {"text": SHORT_TEXT, "aggregation": "simple", "model": settings.model, "engine": settings.engine,
                    "threads": settings.threads, "serve_flags": list(serve_flags),
                    "server_stack": "asyncio+h11" if "--no-uvloop" in serve_flags else "uvloop+httptools",
                    "target_overhead_ms": 0.5, "target_speedup": 4.0}
    checkpoint = _baseline_checkpoint(baseline_model) if baseline else None

    progress(f"in-process service path ({settings.model} on {settings.engine})")
    service = NerService.from_settings(settings)
    expected = orjson.loads(orjson.dumps(service.predict([SHORT_TEXT], options), option=orjson.OPT_SERIALIZE_NUMPY))
    with tempfile.TemporaryDirectory(prefix="ner-bench-http-") as tmp, contextlib.ExitStack() as servers:
        ports = {"ours": free_port()}
        progress("starting ner-stage serve" + (" and the baseline server" if checkpoint else ""))
        servers.enter_context(_server(
            [sys.executable, "-m", "pipeline.cli.main", "serve", "--host", HOST, "--port", str(ports["ours"]),
             "--jobs-db", str(Path(tmp) / "jobs.sqlite3"), *_model_flags(settings), *serve_flags],
            ports["ours"], "/ready"))
        client = RawClient(ports["ours"])
        status, answer = client.call(post_request(ports["ours"], "/predict_tokens", body))
        client.close()
        if status != 200 or orjson.loads(answer) != expected:
            raise click.ClickException("the server's answer differs from the in-process service's")
        if checkpoint is not None:
            ports["baseline"] = free_port()
            servers.enter_context(_server(
                [sys.executable, "-m", "pipeline.devtools.bench.http", "baseline-server", str(ports["baseline"]),
                 str(checkpoint), str(settings.threads or 0)], ports["baseline"], "/health"))
        progress(f"sequential keep-alive, {sequential} requests per side in {blocks} alternating blocks")
        seq = _sequential(service, options, ports, body, sequential, blocks)
        result["in_process"] = seq.pop("in_process")
        for who in ports:
            result[who] = {"sequential": seq[who], "concurrency": []}
        for level in levels:
            for who, port in ports.items():
                row = asyncio.run(_load(port, post_request(port, "/predict_tokens", body), level, duration))
                progress(f"  {who:<8} c={level:>2}: {row['requests_per_s']:7.1f} req/s  P50 {row['p50_ms']:6.2f} ms"
                         f"  P99 {row['p99_ms']:6.2f} ms")
                result[who]["concurrency"].append(row)
        if fairness:
            progress("fairness: short requests while a 100,000-character request is in flight")
            result["fairness"] = fairness_figure(ports["ours"], body)
            fair = result["fairness"]
            progress(f"  long {fair['long_s']:.2f} s; {fair['short_requests']} short requests meanwhile, "
                     f"max {fair['short_max_ms'] or 0:.0f} ms")
    result["server_overhead_p50_ms"] = result["ours"]["sequential"]["p50_ms"] - result["in_process"]["p50_ms"]
    # the same difference block by block (each pair measured seconds apart), median over blocks:
    # robust to load from other processes that drifts during the run
    result["server_overhead_p50_paired_ms"] = float(np.median(np.subtract(
        result["ours"]["sequential"]["block_p50_ms"], result["in_process"]["block_p50_ms"])))
    if "baseline" in result:
        ours, theirs = result["ours"]["sequential"], result["baseline"]["sequential"]
        result["speedup_p50"] = theirs["p50_ms"] / ours["p50_ms"]
        result["speedup_p99"] = theirs["p99_ms"] / ours["p99_ms"]
    out = Path(out_dir)
    path = save(result, out, "http")
    _plot(result, out / "http.png")
    _print(result)
    click.echo(f"saved {path} and {out / 'http.png'}")


def _baseline_checkpoint(given: str | None) -> Path | None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        progress("torch/transformers not installed: baseline skipped (pip install 'ner-stage[export]')")
        return None
    if given:
        return Path(given)
    from engines.reference import float32_checkpoint

    return float32_checkpoint()


def _print(result: dict) -> None:
    click.echo(f"in-process service path: P50 {result['in_process']['p50_ms']:.2f} ms")
    for who in ("ours", "baseline"):
        if who not in result:
            continue
        seq = result[who]["sequential"]
        rates = "  ".join(f"c{r['concurrency']}={r['requests_per_s']:.0f} req/s" for r in result[who]["concurrency"])
        click.echo(f"{who:<9} sequential: P50 {seq['p50_ms']:6.2f} ms  P99 {seq['p99_ms']:6.2f} ms   {rates}")
    fair = result.get("fairness")
    if fair and fair.get("short_max_over_long") is not None:
        click.echo(f"fairness: {fair['short_requests']} short requests during a {fair['long_chars']}-character one "
                   f"({fair['long_s']:.2f} s): P50 {fair['short_p50_ms']:.1f} ms, max {fair['short_max_ms']:.1f} ms "
                   f"= {fair['short_max_over_long']:.1%} of the long request (target <= 25%)")
    click.echo(f"server overhead (P50): {result['server_overhead_p50_ms']:.3f} ms; median of per-block "
               f"differences {result['server_overhead_p50_paired_ms']:.3f} ms (target <= 0.5)")
    if "speedup_p50" in result:
        click.echo(f"vs transformers in FastAPI: P50 {result['speedup_p50']:.1f}x, "
                   f"P99 {result['speedup_p99']:.1f}x faster")


def _plot(result: dict, path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    names = ["in_process"] + [w for w in ("ours", "baseline") if w in result]
    rows = [result["in_process"]] + [result[w]["sequential"] for w in names[1:]]
    x = range(len(names))
    axes[0].bar([i - 0.2 for i in x], [r["p50_ms"] for r in rows], 0.4, label="P50")
    axes[0].bar([i + 0.2 for i in x], [r["p99_ms"] for r in rows], 0.4, label="P99")
    axes[0].set_xticks(list(x), names)
    axes[0].set_ylabel("ms")
    axes[0].set_title(f"one short text, sequential keep-alive\noverhead {result['server_overhead_p50_ms']:.2f} ms")
    axes[0].legend()
    for who, style in (("ours", "o-"), ("baseline", "s--")):
        if who not in result:
            continue
        conc = result[who]["concurrency"]
        levels = [r["concurrency"] for r in conc]
        axes[1].plot(levels, [r["p50_ms"] for r in conc], style, label=f"{who} P50")
        axes[1].plot(levels, [r["p99_ms"] for r in conc], style, alpha=0.5, label=f"{who} P99")
        axes[2].plot(levels, [r["requests_per_s"] for r in conc], style, label=who)
    for ax, title, unit in ((axes[1], "latency vs concurrency", "ms"), (axes[2], "throughput", "requests/s")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"ner-stage bench http: {result['engine']} / {result['model']} ({result['server_stack']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def baseline_app(checkpoint: str, threads: int = 0):
    """transformers' pipeline behind FastAPI: what serving this model usually looks like."""
    import torch
    from fastapi import FastAPI
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    if threads:
        torch.set_num_threads(threads)
    model = AutoModelForTokenClassification.from_pretrained(checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/predict_tokens")
    def predict(body: dict) -> list:
        texts = [t[0] if isinstance(t, list) else t for t in body["inputs"]]
        pipe = app.state.pipe
        out = pipe(texts, aggregation_strategy=body.get("aggregation_strategy", "simple"))
        return [[{"token": e["word"], "start": e["start"], "end": e["end"],
                  "results": {e.get("entity_group", e.get("entity")): float(e["score"])}} for e in doc] for doc in out]

    app.state.pipe = pipeline("token-classification", model=model, tokenizer=tokenizer, device=-1)
    return app


def _baseline_main(args: list[str]) -> None:
    import uvicorn

    port, checkpoint, threads = int(args[0]), args[1], int(args[2])
    fast = all(__import__("importlib").util.find_spec(m) for m in ("uvloop", "httptools"))
    uvicorn.run(baseline_app(checkpoint, threads), host=HOST, port=port, log_level="warning", access_log=False,
                loop="uvloop" if fast else "asyncio", http="httptools" if fast else "h11")


if __name__ == "__main__" and sys.argv[1:2] == ["baseline-server"]:
    _baseline_main(sys.argv[2:])
