# Taskgate: one image for the API (default), the workers and the migrations (compose.yaml).
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

RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin taskgate

USER taskgate
EXPOSE 8000
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
