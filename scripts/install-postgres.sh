#!/usr/bin/env bash
# Debian's PostgreSQL server binaries for the job-store tests (tests/integration/pg.py starts its
# own throw-away server from /usr/lib/postgresql/<version>/bin). Does nothing when they are there.
# Measured on Debian 12: apt-get update 4 s, the packages (19 MB) download in 6 s; no cluster is
# created and no service started (the tests run their own). Under CI=true a failure stops the
# run (the database tests must run there); elsewhere it warns and those tests skip.
set -uo pipefail
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null && exit 0
started=$SECONDS
sudo=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo="sudo -n"; fi
echo "install-postgres: installing Debian postgresql for the job-store tests" >&2
apt() { $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
install() {  # as the official postgres image does: no default cluster
  apt postgresql-common \
    && $sudo sed -ri 's/#?(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
    && apt postgresql
}
if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; } \
   && { install || { $sudo apt-get update -qq && install; }; } \
   && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  echo "install-postgres: done in $((SECONDS - started)) s" >&2
  exit 0
fi
echo "install-postgres: could not install postgresql (apt-get as root or via sudo is needed)" >&2
[ "${CI:-}" = "true" ] && exit 1
exit 0
