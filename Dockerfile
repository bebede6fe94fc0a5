# Images of the breast-cancer diagnosis service: two targets of one file.
#
#   docker build --target trainer -t wdbc-diagnosis/trainer .   # python -m training, writes /models
#   docker build --target api     -t wdbc-diagnosis/api .       # python -m service on :8000 (the default target)
#
# Two targets, not one image for both: the trainer needs the base dependencies and the "train" extra
# (scikit-learn; plus TRAINER_EXTRAS, e.g. "plots"), the API the base and the "service" extra (it reads the
# pickles' arrays through an allow-list, without scikit-learn or joblib); neither image carries the other's stack nor the dev tools, and
# each can be rebuilt and rolled out on its own. They share every layer up to the base dependencies, so the
# second target costs little. Docker Compose builds both (docker-compose.yml).
#
# Layer order: the dependencies are installed from requirement lists that deploy/pyproject_requirements.py
# derives from pyproject.toml, before any code is copied. A code change rebuilds only the small project wheel
# and the layer installing it; a pyproject.toml change that leaves the dependencies alone (tool settings,
# the version) changes no list, so it reinstalls nothing either.
ARG BASE_IMAGE=python:3.11-slim

# ---- builders ----------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS requirements
ARG TRAINER_EXTRAS=""
WORKDIR /src
COPY pyproject.toml deploy/pyproject_requirements.py ./
RUN mkdir /requirements \
 && python3 pyproject_requirements.py pyproject.toml build base > /requirements/build.txt \
 && python3 pyproject_requirements.py pyproject.toml base train "${TRAINER_EXTRAS}" > /requirements/trainer.txt \
 && python3 pyproject_requirements.py pyproject.toml base service > /requirements/api.txt

FROM ${BASE_IMAGE} AS build-base
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
COPY --from=requirements /requirements/build.txt /tmp/requirements/
RUN python3 -m venv /opt/venv \
 && pip install --no-cache-dir -r /tmp/requirements/build.txt

# The project itself, as a wheel (built without network: setuptools is already in the venv).
FROM build-base AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY neuralnet/ neuralnet/
COPY training/ training/
COPY service/ service/
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM build-base AS trainer-deps
COPY --from=requirements /requirements/trainer.txt /tmp/requirements/
RUN pip install --no-cache-dir -r /tmp/requirements/trainer.txt

FROM build-base AS api-deps
COPY --from=requirements /requirements/api.txt /tmp/requirements/
RUN pip install --no-cache-dir -r /tmp/requirements/api.txt

# ---- runtime ------------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
# A fixed numeric user, so that volumes and `USER` checks (runAsNonRoot) agree on who owns what.
ARG APP_UID=10001
RUN groupadd --system --gid "${APP_UID}" app \
 && useradd --system --uid "${APP_UID}" --gid app --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /srv

FROM runtime AS trainer
COPY --from=trainer-deps /opt/venv /opt/venv
COPY --from=wheel /wheels/ /tmp/wheels/
RUN pip install --no-cache-dir --no-deps --no-index /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels \
 && pip check \
 && mkdir /models && chown "${APP_UID}:${APP_UID}" /models
COPY deploy/train.sh /usr/local/bin/train
# A named volume mounted here starts as a copy of this directory, owned by the app user.
VOLUME ["/models"]
ENV MODELS_ROOT=/models
USER ${APP_UID}:${APP_UID}
# Through sh, so the entry point works even from a checkout that lost the executable bit.
ENTRYPOINT ["/bin/sh", "/usr/local/bin/train"]
CMD ["--cv-repeats", "1"]

FROM runtime AS api
COPY --from=api-deps /opt/venv /opt/venv
COPY --from=wheel /wheels/ /tmp/wheels/
RUN pip install --no-cache-dir --no-deps --no-index /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels \
 && pip check
ENV MODEL_DIR=/models/latest
EXPOSE 8000
USER ${APP_UID}:${APP_UID}
# Ready means a verified model is loaded (GET /ready answers 200, else 503); urllib raises on 503, which
# exits 1. Slim images have no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=2)"]
CMD ["python", "-m", "service", "--host", "0.0.0.0", "--port", "8000"]
