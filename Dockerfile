# syntax=docker/dockerfile:1
# The demo API, served by uvicorn against the MongoDB in MONGODB_URL (required).

FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY odmantic_fastapi ./odmantic_fastapi
COPY demo_app ./demo_app
RUN python -m venv /opt/venv && /opt/venv/bin/pip install ".[demo]"

FROM python:3.11-slim
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home-dir /app app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# The demo is not part of the library's wheel: it runs from its source, as in the repository.
COPY demo_app ./demo_app
USER 10001:10001
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    DEMO_HOST=0.0.0.0 \
    DEMO_PORT=8000 \
    DEMO_REQUIRE_MONGODB_URL=true
EXPOSE 8000
# The slim image has no curl: the health check uses Python's standard library.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
CMD ["python", "-m", "demo_app"]
