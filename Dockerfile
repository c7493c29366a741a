# One image for every mistpipe service; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MISTPIPE_STATE_DIR=/var/lib/mistpipe
WORKDIR /app
COPY pyproject.toml README.md ./
COPY topics ./topics
COPY ingest ./ingest
COPY pipeline ./pipeline
COPY mistpipe ./mistpipe
RUN pip install --no-cache-dir . \
 && useradd --system --uid 10001 mistpipe \
 && mkdir -p /var/lib/mistpipe && chown mistpipe /var/lib/mistpipe
USER mistpipe
ENTRYPOINT ["mistpipe"]
CMD ["--help"]
