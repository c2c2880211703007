#!/usr/bin/env bash
# The rampart-int8 bundle for the tests (and `--model rampart-int8`): built once from the shipped
# 4-bit weights into .cache/rampart-int8-<key>/ (python -m engines.int8; no download, no torch);
# does nothing when it is cached. Needs onnx and onnxruntime's quantization tools (the int8
# extra). Measured on the 2-core development VM: about 2-3 s of CPU for a cold build (dequantize
# + quantize; 7-30 s of wall time there, shared with other jobs), about 1 s of CPU when cached
# (interpreter start, hashing the 4-bit graph). A failure stops the run under CI=true.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
if .venv/bin/python -m engines.int8 >/dev/null; then
  echo "install-int8: rampart-int8 bundle ready ($((SECONDS - started)) s)" >&2
  exit 0
fi
echo "install-int8: the rampart-int8 bundle could not be built (pip install -e '.[int8]')" >&2
[ "${CI:-}" = "true" ] && exit 1
exit 0
