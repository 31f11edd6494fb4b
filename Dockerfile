FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/incidentbot

COPY pyproject.toml README.md incidentbot.example.yml ./
COPY app ./app
COPY agents ./agents
COPY migrations ./migrations
COPY runbooks ./runbooks
RUN pip install . && useradd --system --home /srv/incidentbot incidentbot && chown incidentbot /srv/incidentbot

USER incidentbot
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"
# `serve` applies migrations before it starts listening.
CMD ["incidentbot", "serve", "--host", "0.0.0.0", "--port", "8000"]
