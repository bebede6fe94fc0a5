#!/bin/sh
# Entry point of the trainer image: `python -m training --models-root "$MODELS_ROOT" "$@"`, which writes
# $MODELS_ROOT/<version>/ and points $MODELS_ROOT/latest at it.
#   TRAIN_MODE=if-missing (default)  skip training when $MODELS_ROOT/latest already holds a model, so that
#                                    `docker compose up` is idempotent and every replica serves the same model
#   TRAIN_MODE=always                train a new version and move `latest` (retraining)
set -eu
root=${MODELS_ROOT:-/models}
case ${TRAIN_MODE:-if-missing} in
  always) ;;
  if-missing)
    if [ -f "$root/latest/manifest.json" ]; then
      echo "trainer: $root/latest -> $(readlink "$root/latest") already holds a model; not training" \
           "(TRAIN_MODE=always retrains)" >&2
      exit 0
    fi ;;
  *)
    echo "trainer: TRAIN_MODE must be 'if-missing' or 'always', not '$TRAIN_MODE'" >&2
    exit 2 ;;
esac
exec python -m training --models-root "$root" "$@"
