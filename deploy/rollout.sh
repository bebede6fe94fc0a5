#!/bin/sh
# Retrain, then restart the API containers one at a time, each waiting until it is healthy (ready) again.
# Behind the load balancer the other replicas keep answering, so the rollout has no downtime; if a restarted
# replica doesn't become ready (say the new model fails verification), the rollout stops there and the
# replicas not yet restarted keep serving the model they have loaded.
#
#   deploy/rollout.sh                                                         # the single-API stack
#   deploy/rollout.sh -f docker-compose.yml -f deploy/compose.replicated.yml  # the replicated one
#
# Arguments go to every `docker compose` call (-f FILE, -p PROJECT, --env-file ...).
#   SKIP_TRAINING=1   only restart (e.g. after pointing /models/latest back at an older version)
#   COMPOSE           the compose command (default: docker compose)
#   READY_TIMEOUT     seconds to wait for each replica (default: 120)
set -eu
compose=${COMPOSE:-docker compose}
timeout=${READY_TIMEOUT:-120}

if [ "${SKIP_TRAINING:-0}" != 1 ]; then
  TRAIN_MODE=always $compose "$@" run --rm --no-deps trainer
fi

ids=$($compose "$@" ps --quiet api)
[ -n "$ids" ] || { echo "rollout: no api container is running" >&2; exit 1; }
for id in $ids; do
  name=$(docker inspect --format '{{.Name}}' "$id")
  docker restart "$id" >/dev/null
  waited=0
  until [ "$(docker inspect --format '{{.State.Health.Status}}' "$id")" = healthy ]; do
    if [ "$waited" -ge "$timeout" ]; then
      echo "rollout: ${name#/} not ready after ${timeout}s; stopping here. Its log:" >&2
      docker logs --tail 20 "$id" >&2
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "rollout: ${name#/} restarted and ready"
done
