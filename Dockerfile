# Oktopus API image: `docker build -t oktopus .`, then run it with docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data

WORKDIR /app

COPY requirements.txt .
RUN python -m pip install -r requirements.txt

# The code stays owned by root; the server runs as an unprivileged user that may write only
# DATA_DIR (the embedded store and a generated signing key, when those are used).
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin oktopus \
    && mkdir -p /data \
    && chown oktopus:oktopus /data
COPY . .

USER oktopus
VOLUME ["/data"]
EXPOSE 8000

CMD ["uvicorn", "fast:app", "--host", "0.0.0.0", "--port", "8000"]
