#!/bin/sh
# Entry point of the trainer image: `python -m training --models-root "$MODELS_ROOT" "$@"`, which writes
# $MODELS_ROOT/<version>/ and points $MODELS_ROOT/latest at it.
#   TRAIN_MODE=if-missing (default)  skip training when $MODELS_ROOT/latest holds a model this code can serve,
#                                    so that `docker compose up` is idempotent and every replica serves the same
#                                    model; a missing, altered or outdated one (an older format) is replaced
#   TRAIN_MODE=always                train a new version and move `latest` (retraining)
set -eu
root=${MODELS_ROOT:-/models}
case ${TRAIN_MODE:-if-missing} in
  always) ;;
  if-missing)
    if problem=$(python -m neuralnet.verify "$root/latest" 2>&1); then
      echo "trainer: $problem; not training (TRAIN_MODE=always retrains)" >&2
      exit 0
    fi
    echo "trainer: training, as $root/latest cannot be served: $problem" >&2 ;;
  *)
    echo "trainer: TRAIN_MODE must be 'if-missing' or 'always', not '$TRAIN_MODE'" >&2
    exit 2 ;;
esac
exec python -m training --models-root "$root" "$@"
