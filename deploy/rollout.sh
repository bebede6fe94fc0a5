#!/bin/sh
# Roll out a new model to the running API replicas without restarting them: retrain (which moves
# /models/latest), or with ROLLBACK set point latest back at an earlier version, then make every replica load
# it live (SIGHUP; replicas with MODEL_WATCH_SECONDS follow by themselves) and wait until each one serves it.
# A replica loads the new version completely, verified and warmed, before one atomic swap: requests in flight
# finish on the old version and none fails. If a replica refuses the version (it does not verify), it keeps
# serving the old one and the rollout stops with that replica's log.
#
#   deploy/rollout.sh                                                         # the single-API stack
#   deploy/rollout.sh -f docker-compose.yml -f deploy/compose.replicated.yml  # the replicated one
#   ROLLBACK=previous deploy/rollout.sh ...   # back to the version trained before the current one
#   ROLLBACK=<version> deploy/rollout.sh ...  # back to a named version (a directory of /models)
#
# Arguments go to every `docker compose` call (-f FILE, -p PROJECT, --env-file ...).
#   SKIP_TRAINING=1   only make the replicas load what latest names now
#   COMPOSE           the compose command (default: docker compose)
#   READY_TIMEOUT     seconds to wait for each replica (default: 120)
set -eu
compose=${COMPOSE:-docker compose}
timeout=${READY_TIMEOUT:-120}

if [ -n "${ROLLBACK:-}" ]; then
  version=$ROLLBACK
  [ "$version" = previous ] && version=""
  # shellcheck disable=SC2086  # unquoted: no version argument means the previous one
  $compose "$@" run --rm --no-deps -T --entrypoint python trainer -m neuralnet.rollback /models $version
elif [ "${SKIP_TRAINING:-0}" != 1 ]; then
  TRAIN_MODE=always $compose "$@" run --rm --no-deps -T trainer
fi
target=$($compose "$@" run --rm --no-deps -T --entrypoint python trainer -c \
  "import json; print(json.load(open('/models/latest/manifest.json'))['model_version'])")

ids=$($compose "$@" ps --quiet api)
[ -n "$ids" ] || { echo "rollout: no api container is running" >&2; exit 1; }
for id in $ids; do
  name=$(docker inspect --format '{{.Name}}' "$id")
  docker kill --signal HUP "$id" >/dev/null
  waited=0
  until [ "$(docker exec "$id" python -c "import json, urllib.request; \
print(json.load(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2))['model_version'])" \
      2>/dev/null)" = "$target" ]; do
    if [ "$waited" -ge "$timeout" ]; then
      echo "rollout: ${name#/} does not serve $target after ${timeout}s; stopping here. Its log:" >&2
      docker logs --tail 20 "$id" >&2
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "rollout: ${name#/} serves $target"
done
