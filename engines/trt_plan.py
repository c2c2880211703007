"""TensorRT plan planning and caching, as plain functions (no ``tensorrt`` import).

Everything that decides *what* to build and *whether* a cached plan may be loaded lives here,
so it is unit-tested on machines without a GPU; ``engines.trt_build`` and
``engines.tensorrt`` only carry the decisions out.

Optimisation profiles. The service packs sorted sequences under a padded-token budget, so
every engine call has ``rows * width <= max_batch_tokens`` (at least one row) and
``width <= max_seq_len``. That region is a hyperbola; a TensorRT profile is a box. We cover it
with one small *latency* box (a few short texts: the interactive ``/predict_tokens`` case, tuned
for a single sentence) and *throughput* boxes over doubling width buckets, each tuned for the
budget-filling shape at its widest width. Boxes are tight, so activation memory stays near the
budget instead of ``max_rows * max_seq_len``.

Cache identity. A plan is only valid for one ONNX graph, one GPU model and compute capability,
one TensorRT version, one precision and one profile plan. All of them go into the key; its
digest names the file, and a JSON sidecar beside the plan repeats the full key plus the plan's
own sha256. A plan is loaded only if the sidecar matches the key exactly and the bytes hash to
the recorded value; anything else (other GPU, upgraded TensorRT, re-exported model, truncated
copy) is rebuilt, never loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from engines.cache import locked

#: Bump when the plan layout or key semantics change, so older sidecars stop matching.
CACHE_FORMAT = 1
PRECISIONS = ("fp16", "fp32")
#: Latency profile: this many rows at most, up to this width, tuned for ``LATENCY_OPT_SEQ``.
LATENCY_ROWS = 4
LATENCY_MAX_SEQ = 128
LATENCY_OPT_SEQ = 32
#: Narrowest throughput bucket; buckets double from here up to max_seq_len.
MIN_BUCKET = 64
#: ONNX operator domains TensorRT's parser understands (the default domain).
STANDARD_DOMAINS = frozenset({"", "ai.onnx"})


# -- optimisation profiles -------------------------------------------------------------------


@dataclass(frozen=True)
class ShapeProfile:
    """One optimisation profile: ``[rows, width]`` bounds shared by every input tensor."""

    min: tuple[int, int]
    opt: tuple[int, int]
    max: tuple[int, int]

    def covers(self, rows: int, width: int) -> bool:
        return self.min[0] <= rows <= self.max[0] and self.min[1] <= width <= self.max[1]

    @property
    def max_tokens(self) -> int:
        return self.max[0] * self.max[1]


@dataclass(frozen=True)
class ProfilePlan:
    """The profiles a plan is built with, in selection order (first covering box wins)."""

    profiles: tuple[ShapeProfile, ...]
    max_batch_tokens: int
    max_seq_len: int
    max_batch_size: int

    def to_json(self) -> dict:
        return {
            "max_batch_tokens": self.max_batch_tokens,
            "max_seq_len": self.max_seq_len,
            "max_batch_size": self.max_batch_size,
            "profiles": [{k: list(v) for k, v in asdict(p).items()} for p in self.profiles],
        }

    @property
    def max_tokens(self) -> int:
        """Largest box volume: the size I/O buffers are allocated for."""
        return max(p.max_tokens for p in self.profiles)

    def route(self, rows: int, width: int) -> list[tuple[int, int, int]]:
        """``(profile index, first row, end row)`` chunks that run a ``[rows, width]`` batch.

        A shape inside some box runs in one call. A batch with more rows than any box of its
        width allows (a caller that ignores the token budget) is split by rows rather than
        refused; a width beyond ``max_seq_len`` is a caller bug and raises ValueError.
        """
        if rows < 1 or width < 1:
            raise ValueError(f"empty batch shape [{rows}, {width}]")
        if width > self.max_seq_len:
            raise ValueError(f"sequence width {width} exceeds the plan's max_seq_len {self.max_seq_len}")
        for index, profile in enumerate(self.profiles):
            if profile.covers(rows, width):
                return [(index, 0, rows)]
        index, profile = max(
            ((i, p) for i, p in enumerate(self.profiles) if p.min[1] <= width <= p.max[1]),
            key=lambda item: item[1].max[0],
        )
        step = profile.max[0]
        return [(index, start, min(start + step, rows)) for start in range(0, rows, step)]


def _bucket_edges(max_seq_len: int, min_bucket: int) -> list[int]:
    edges, edge = [], min(min_bucket, max_seq_len)
    while edge < max_seq_len:
        edges.append(edge)
        edge *= 2
    edges.append(max_seq_len)
    return edges


def plan_profiles(
    max_batch_tokens: int,
    max_seq_len: int,
    *,
    max_batch_size: int = 64,
    min_bucket: int = MIN_BUCKET,
) -> ProfilePlan:
    """Profiles covering every ``[rows, width]`` the service can send under these limits."""
    if max_batch_tokens < 1 or max_seq_len < 1 or max_batch_size < 1:
        raise ValueError("max_batch_tokens, max_seq_len and max_batch_size must be positive")
    profiles: list[ShapeProfile] = []
    latency_seq = min(LATENCY_MAX_SEQ, max_seq_len)
    latency_rows = max(1, min(LATENCY_ROWS, max_batch_size, max_batch_tokens // latency_seq))
    profiles.append(ShapeProfile((1, 1), (1, min(LATENCY_OPT_SEQ, latency_seq)), (latency_rows, latency_seq)))
    low = 0
    for edge in _bucket_edges(max_seq_len, min_bucket):
        # Any width in (low, edge] has rows <= budget // width <= budget // (low + 1).
        rows = max(1, min(max_batch_size, max_batch_tokens // (low + 1)))
        opt_rows = max(1, min(rows, max_batch_tokens // edge))
        profiles.append(ShapeProfile((1, low + 1), (opt_rows, edge), (rows, edge)))
        low = edge
    return ProfilePlan(tuple(profiles), max_batch_tokens, max_seq_len, max_batch_size)


# -- cache key and files ----------------------------------------------------------------------


def cache_key(
    *,
    onnx_sha256: str,
    gpu_name: str,
    compute_capability: tuple[int, int] | str,
    trt_version: str,
    precision: str,
    plan: ProfilePlan,
) -> dict:
    """Everything a serialized plan depends on, as a JSON-able dict."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    cc = compute_capability if isinstance(compute_capability, str) else "{}.{}".format(*compute_capability)
    return {
        "format": CACHE_FORMAT,
        "onnx_sha256": onnx_sha256,
        "gpu": gpu_name,
        "compute_capability": cc,
        "tensorrt": trt_version,
        "precision": precision,
        "profiles": plan.to_json(),
    }


def key_digest(key: dict) -> str:
    """Stable sha256 of a key (canonical JSON), used in file names and sidecars."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class CachePaths:
    plan: Path
    sidecar: Path
    lock: Path
    timing_cache: Path


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


def cache_paths(cache_dir: Path, model_name: str, key: dict) -> CachePaths:
    """File names for a key; the timing cache is shared by every model on one GPU + TensorRT."""
    stem = f"{_slug(model_name)}-{key['precision']}-{key_digest(key)[:16]}"
    timing = f"timing-{_slug(key['gpu'])}-sm{key['compute_capability'].replace('.', '')}-trt{key['tensorrt']}.cache"
    return CachePaths(
        plan=cache_dir / f"{stem}.plan",
        sidecar=cache_dir / f"{stem}.plan.json",
        lock=cache_dir / f"{stem}.lock",
        timing_cache=cache_dir / timing,
    )


def default_cache_dir(bundle_dir: Path) -> Path:
    """``<bundle>/trt`` (plans live beside their model) when writable, else the user cache.

    The default bundle sits inside site-packages, which is read-only in the container image.
    """
    beside = bundle_dir / "trt"
    probe = beside if beside.exists() else bundle_dir
    if os.access(probe, os.W_OK):
        return beside
    return Path.home() / ".cache" / "ner-stage" / "trt"


def stale_reason(sidecar: dict | None, key: dict, plan_sha256: str | None) -> str | None:
    """Why a cached plan must not be loaded, or None when it matches ``key``."""
    if plan_sha256 is None:
        return "no cached plan"
    if sidecar is None:
        return "plan has no readable sidecar"
    if sidecar.get("digest") != key_digest(key) or sidecar.get("key") != key:
        theirs = sidecar.get("key") if isinstance(sidecar.get("key"), dict) else {}
        changed = sorted(k for k in set(key) | set(theirs) if key.get(k) != theirs.get(k))
        return f"plan was built for a different {', '.join(changed) or 'key'}"
    if sidecar.get("plan_sha256") != plan_sha256:
        return "plan bytes do not match the sidecar (truncated or replaced)"
    return None


def load_current_plan(paths: CachePaths, key: dict) -> tuple[bytes | None, str | None]:
    """``(plan bytes, None)`` for a valid cached plan, else ``(None, reason to rebuild)``."""
    try:
        data = paths.plan.read_bytes()
    except FileNotFoundError:
        return None, "no cached plan"
    try:
        sidecar = json.loads(paths.sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        sidecar = None
    reason = stale_reason(sidecar if isinstance(sidecar, dict) else None, key, hashlib.sha256(data).hexdigest())
    return (None, reason) if reason else (data, None)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def store_plan(paths: CachePaths, key: dict, plan: bytes, **info: object) -> None:
    """Write plan then sidecar, each atomically: a crash leaves no plan with a valid sidecar."""
    paths.plan.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(paths.plan, plan)
    sidecar = {"digest": key_digest(key), "key": key, "plan_sha256": hashlib.sha256(plan).hexdigest(),
               "plan_bytes": len(plan), **info}
    _atomic_write(paths.sidecar, (json.dumps(sidecar, indent=2, sort_keys=True) + "\n").encode())


def store_timing_cache(paths: CachePaths, data: bytes) -> None:
    paths.timing_cache.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(paths.timing_cache, data)


@contextlib.contextmanager
def build_lock(paths: CachePaths) -> Iterator[None]:
    """Exclusive lock so workers starting together on one host build a plan once."""
    with locked(paths.lock):
        yield


# -- can TensorRT parse this graph? ------------------------------------------------------------


def _varint(buf, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """Protobuf wire-format walk: ``(field number, value start, value end)`` for
    length-delimited fields; scalars are skipped. Enough to read ONNX structure without the
    ``onnx`` package (not installed in the GPU image) and without touching weight bytes."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(buf, pos)
            yield field, pos, pos + length
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} at byte {pos}")


def _graph_ops(buf, start: int, end: int, found: Counter) -> None:
    for field, s, e in _fields(buf, start, end):
        if field != 1:  # GraphProto.node
            continue
        op_type, domain = "", ""
        for nf, ns, ne in _fields(buf, s, e):
            if nf == 4:  # NodeProto.op_type
                op_type = bytes(buf[ns:ne]).decode()
            elif nf == 7:  # NodeProto.domain
                domain = bytes(buf[ns:ne]).decode()
            elif nf == 5:  # NodeProto.attribute -> AttributeProto.g (6) / graphs (11)
                for af, as_, ae in _fields(buf, ns, ne):
                    if af in (6, 11):
                        _graph_ops(buf, as_, ae, found)
        if domain not in STANDARD_DOMAINS:
            found[f"{domain}.{op_type}"] += 1


def contrib_ops(model) -> dict[str, int]:
    """Non-standard-domain operators in a serialized ONNX ModelProto, e.g.
    ``{"com.microsoft.MatMulNBits": 37}``. TensorRT's ONNX parser rejects all of them."""
    found: Counter = Counter()
    for field, s, e in _fields(model, 0, len(model)):
        if field == 7:  # ModelProto.graph
            _graph_ops(model, s, e, found)
    return dict(sorted(found.items()))


def contrib_ops_in(onnx_path: Path) -> dict[str, int]:
    """:func:`contrib_ops` of a file, memory-mapped so weights are never copied."""
    with onnx_path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return contrib_ops(mm)


def contrib_ops_fix(onnx_path: Path, ops: dict[str, int]) -> str:
    """The BundleError message for a graph TensorRT cannot parse, naming the fix."""
    listed = ", ".join(f"{name} x{count}" for name, count in ops.items())
    return (
        f"{onnx_path}: the graph uses ONNX Runtime contrib operators ({listed}) that TensorRT cannot "
        "parse. The TensorRT engine needs a plain float32 ONNX bundle: export one from a Hugging Face "
        "checkpoint with `ner-stage export HF_DIR BUNDLE_DIR` (without --optimize/--quantize-int8) and pass "
        "--model BUNDLE_DIR. For the default 'rampart' model (4-bit MatMulNBits) rebuild float32 weights "
        "first: `python -c 'from engines.reference import float32_checkpoint as f; print(f())'` (needs "
        "pip install 'ner-stage[export]') and export the directory it prints; the GPU image "
        "(deploy/Dockerfile.gpu) ships that bundle as /opt/models/rampart-fp32."
    )


def unavailable_message(missing: list[str]) -> str:
    """The one start-up message when TensorRT cannot run here: what is missing and the fix."""
    return (
        f"the tensorrt engine cannot run on this machine: missing {'; '.join(missing)}. Install the GPU "
        "extra with `pip install 'ner-stage[gpu]'` (tensorrt-cu12 10.x and cuda-python 12.x) on a machine "
        "with an NVIDIA GPU and driver, or use the GPU image (deploy/Dockerfile.gpu); "
        "or run on CPU with --engine onnxruntime."
    )
