# syntax=docker/dockerfile:1
# The rolloutd controller image: rolloutd and its traffic-router plugins in a virtualenv on
# python:3.11-slim, run as uid 65532 with nothing to write (the Helm chart mounts the root
# filesystem read-only).
#
#   docker build -t rolloutd:0.1.0 .
#
# Both stages use the same base image, so the virtualenv's interpreter path (/usr/local/bin)
# stays valid when the venv is copied across; pin it by digest in release builds.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# uv from PyPI rather than from another image registry: the build then needs only PyPI and the
# base image. Pinned to the version that wrote uv.lock.
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src
COPY . .
# One wheel per workspace member (rolloutd and every plugins/* router) but the development
# distribution rolloutd-dev (sandbox, demo, pytest kit: not for the image), and the locked,
# hash-pinned runtime dependencies of exactly those wheels (no dev group, no workspace members).
RUN uv build --all-packages --wheel --out-dir /wheels \
 && rm /wheels/rolloutd_dev-*.whl \
 && uv export --frozen --no-dev --no-emit-workspace \
        $(for wheel in /wheels/*.whl; do \
            printf -- '--package %s ' "$(basename "$wheel" | cut -d- -f1 | tr _ -)"; done) \
        --output-file /wheels/requirements.txt
# Dependencies first with --require-hashes (exactly what uv.lock says), then our own wheels
# without resolving again. Bytecode is compiled here because the running container cannot write
# __pycache__ (UV_COMPILE_BYTECODE above).
RUN uv venv --python /usr/local/bin/python3 /opt/rolloutd \
 && uv pip install --python /opt/rolloutd/bin/python --require-hashes \
        --requirement /wheels/requirements.txt \
 && uv pip install --python /opt/rolloutd/bin/python --no-deps /wheels/*.whl

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="rolloutd" \
      org.opencontainers.image.description="Progressive-delivery controller for Kubernetes (Argo Rollouts canary semantics)" \
      org.opencontainers.image.licenses="Apache-2.0"
# PYTHONDONTWRITEBYTECODE: never try to write .pyc next to read-only sources.
# PYTHONUNBUFFERED: log lines reach `kubectl logs` as they are written.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/rolloutd/bin:$PATH
# A named user for uid 65532 (the chart's runAsUser) so tools that look the uid up find it.
RUN groupadd --system --gid 65532 rolloutd \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin rolloutd
# Owned by root and not writable by the runtime user: the code cannot be changed at run time.
COPY --from=build /opt/rolloutd /opt/rolloutd
USER 65532:65532
EXPOSE 8080 8090
ENTRYPOINT ["rolloutd"]
CMD ["run"]
