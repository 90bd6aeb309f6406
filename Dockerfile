# Taskgate: one image for the API (default), the workers and the migrations (compose.yaml).

# The browser assets the documentation pages and the dashboard load, vendored at build time.
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts/vendor-assets.sh ./scripts/
RUN scripts/vendor-assets.sh /build/vendor

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/taskgate

COPY pyproject.toml alembic.ini ./
COPY config ./config
COPY db ./db
COPY publishers ./publishers
COPY services ./services
COPY app ./app
COPY subscribers ./subscribers
COPY cli ./cli
COPY --from=assets /build/vendor ./app/static/vendor

RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin taskgate

USER taskgate
EXPOSE 8000
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
