# syntax=docker/dockerfile:1
# Evidence Anchor: one image for the API (`evidence serve`), the Celery worker (`evidence
# worker`) and beat (`evidence beat`); see docker-compose.yml. Every dependency is installed
# from requirements-runtime.lock (no dev or benchmark-only packages), pinned by hash; the project itself with --no-deps.
# Pinned to an exact release (docker-compose.yml pins every other image the same way).

# The front-end files the service serves itself (never a CDN: the console and /docs must work
# on an intranet): htmx and swagger-ui-dist (evidence_api/console/assets), ReplayWeb.page for
# the verification portal (verifier/service/replay). Installed from the committed lock files,
# no lifecycle scripts, no dev packages (axe-core is for the tests); only the node_modules
# folders reach the final image, which has no node.
FROM node:20.19.5-bookworm-slim AS assets
WORKDIR /src
COPY evidence_api/console/assets/package.json evidence_api/console/assets/package-lock.json evidence_api/console/assets/
COPY verifier/service/replay/package.json verifier/service/replay/package-lock.json verifier/service/replay/
RUN npm ci --prefix evidence_api/console/assets --ignore-scripts --omit=dev --no-audit --no-fund \
    && npm ci --prefix verifier/service/replay --ignore-scripts --omit=dev --no-audit --no-fund

FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

# A CJK TrueType font, embedded (subset) in every appraisal report (核验报告) the
# verifier service renders; without it reports fall back to a non-embedded CID font.
# Chromium and ffmpeg: server-side captures (the capture worker; never `playwright install`).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei chromium ffmpeg \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv

# Dependencies first: this layer changes only with the lock.
COPY requirements-runtime.lock /tmp/requirements-runtime.lock
RUN pip install --require-hashes --no-deps -r /tmp/requirements-runtime.lock \
    && rm /tmp/requirements-runtime.lock

WORKDIR /app
COPY pyproject.toml README.md ./
COPY verifier verifier
COPY anchoring anchoring
COPY evidence_api evidence_api
COPY contracts/build contracts/build
# Beside the code that serves them (the console's /console/vendor and /docs/assets, the
# portal's /replay/), as `make install` puts them.
COPY --from=assets /src/evidence_api/console/assets/node_modules evidence_api/console/assets/node_modules
COPY --from=assets /src/verifier/service/replay/node_modules verifier/service/replay/node_modules
# Installed in place, as `make install` does: anchoring reads the committed contract artifact
# at contracts/build/EvidenceLog.json beside the source.
# /srv/trust: where docker-compose.yml's trust-roots job publishes the verifier's trust roots
# (a named volume takes this folder's owner when first mounted, so the job may write it).
RUN pip install --no-deps --no-build-isolation -e . \
    && useradd --system --uid 10001 --home-dir /var/lib/evidence --create-home evidence \
    && install -d -o evidence -g evidence -m 0755 /srv/trust

USER evidence
ENV EVIDENCE_DATA_DIR=/var/lib/evidence
WORKDIR /var/lib/evidence
EXPOSE 8000
CMD ["evidence", "serve"]
