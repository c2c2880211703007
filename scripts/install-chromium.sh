#!/usr/bin/env bash
# Debian's chromium for the browser tests (tests/integration/http/test_viewer.py), which drive
# /usr/bin/chromium with Playwright; never a browser that playwright downloads. Does nothing when
# it is already there; about a minute on a fresh Debian machine. Under CI=true a failure stops
# the run (the browser tests must run there); elsewhere it warns and the browser tests skip.
set -uo pipefail
[ -x /usr/bin/chromium ] && exit 0
started=$SECONDS
sudo=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo="sudo -n"; fi
echo "install-chromium: installing Debian chromium for the browser tests" >&2
if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; } \
   && { $sudo apt-get install -y -qq chromium >/dev/null \
        || { $sudo apt-get update -qq && $sudo apt-get install -y -qq chromium >/dev/null; }; }; then
  echo "install-chromium: done in $((SECONDS - started)) s ($(/usr/bin/chromium --version 2>/dev/null))" >&2
  exit 0
fi
echo "install-chromium: could not install chromium (apt-get as root or via sudo is needed)" >&2
[ "${CI:-}" = "true" ] && exit 1
exit 0
