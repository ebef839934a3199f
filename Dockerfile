# sailbridge's container image: `docker build -t sailbridge .` (or `podman build`).
#
# Two stages: the first builds a virtual environment from this source tree, the second
# copies only that environment onto a fresh base, so no compiler, pip cache or source
# file ends up in the image. Settings come from SAILBRIDGE_* environment variables or a
# TOML file mounted into the container (SAILBRIDGE_CONFIG=/etc/sailbridge/sailbridge.toml);
# nothing secret is in the image. See docs/deploy.md.
#
# BASE must hold python3 (>= 3.11) with its venv module at the same path in both stages;
# the default is the official Python slim image.
ARG BASE=docker.io/library/python:3.12-slim-bookworm

FROM ${BASE} AS build
# The certificate authority pip trusts, for a build behind a TLS-inspecting proxy: mount
# the CA bundle as a build-time volume (`podman build -v
# /etc/ssl/certs/ca-certificates.crt:/build-ca.crt:ro --build-arg PIP_CERT=/build-ca.crt`).
# Both exist in this stage only, never in the image.
ARG PIP_CERT
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python3 -m venv /opt/sailbridge \
 && /opt/sailbridge/bin/pip install --no-cache-dir --disable-pip-version-check --no-compile /src \
 && /opt/sailbridge/bin/python -m compileall -q /opt/sailbridge/lib \
 && /opt/sailbridge/bin/pip uninstall --yes --quiet pip

FROM ${BASE}
ARG VERSION=0.1.0
ARG SOURCE=
ARG REVISION=
LABEL org.opencontainers.image.title="sailbridge" \
      org.opencontainers.image.description="Self-hosted Sailthru destination for Segment-spec events" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT"
RUN groupadd --gid 10001 sailbridge \
 && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin sailbridge \
 && mkdir -p /data /etc/sailbridge \
 && chown sailbridge:sailbridge /data
COPY --from=build /opt/sailbridge /opt/sailbridge
ENV PATH=/opt/sailbridge/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SAILBRIDGE_DATABASE=/data/sailbridge.db \
    SAILBRIDGE_HOST=0.0.0.0 \
    SAILBRIDGE_PORT=8080
USER sailbridge
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# Liveness only (the process answers HTTP): readiness (/readyz) is the load balancer's.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('SAILBRIDGE_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["sailbridge"]
CMD ["serve"]
