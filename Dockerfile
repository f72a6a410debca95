# Stock Watchlist. `docker build .` gives the production image (the last stage);
# `docker build --target debug .` the debugging one (debugpy on 5678, --reload).

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:3.13-slim AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/app/.venv/bin:$PATH"
RUN groupadd --system --gid 10001 watchlist \
    && useradd --system --no-log-init --uid 10001 --gid watchlist \
       --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin watchlist
WORKDIR /app

# Dependencies exactly as uv.lock pins them, then the project itself (an editable install,
# so the app finds templates/ and static/ beside webapp/ in /app).
FROM base AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY webapp/ webapp/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# Debugging only: the dev group and debugpy, the app under debugpy with --reload.
# docker-compose.yml's app-debug service bind-mounts the source folders over these copies.
FROM build AS debug
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen \
    && uv pip install --python /app/.venv/bin/python debugpy==1.8.22
COPY templates/ templates/
COPY static/ static/
# Frozen standard-library modules hide from the debugger; this reaches uvicorn's child too.
ENV PYTHON_FROZEN_MODULES=off
USER 10001:10001
EXPOSE 8000 5678
CMD ["python", "-m", "debugpy", "--listen", "0.0.0.0:5678", \
     "-m", "uvicorn", "webapp.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", \
     "--reload", "--reload-dir", "webapp"]

# Production: the default target, so it stays the last stage.
FROM base AS production
COPY --from=build /app/.venv /app/.venv
COPY webapp/ webapp/
COPY templates/ templates/
COPY static/ static/
# Proxy headers (X-Forwarded-For, -Proto) are trusted only from these addresses (uvicorn
# reads this variable): set it to the reverse proxy's address when there is one.
ENV FORWARDED_ALLOW_IPS="127.0.0.1,::1" \
    WATCHLIST_ENV=production
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# Exec form: the watchlist command is PID 1 and gets SIGTERM itself. It serves the app
# under uvicorn (webapp/serving.py), trusting X-Forwarded-* from FORWARDED_ALLOW_IPS only;
# on SIGTERM it lets running requests finish for up to 20 s (under compose's 30 s
# stop_grace_period) and exits 0, as tests/test_reliability.py checks. One process;
# add --workers N for more (compose's command:).
CMD ["watchlist", "serve", "--host", "0.0.0.0", "--port", "8000"]
