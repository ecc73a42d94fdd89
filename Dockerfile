# taskloader as a batch container: configured by TASKLOADER_* variables, AWS credentials from the
# standard chain (ECS task role, IRSA / web identity), never from the image. See docs/deploy.md.

# --- builder: a virtualenv with taskloader and its pinned dependencies --------------------------
FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /build
RUN python -m venv /opt/taskloader

# Dependencies first (from the pinned set), so source changes reuse this layer.
COPY constraints.txt pyproject.toml README.md ./
COPY src ./src
RUN /opt/taskloader/bin/pip install --no-cache-dir --constraint constraints.txt . \
    && /opt/taskloader/bin/pip uninstall --yes pip \
    && /opt/taskloader/bin/taskloader --help > /dev/null

# --- runtime: the same slim base, no compilers, no pip cache, a non-root user ------------------
FROM python:3.11-slim-bookworm

LABEL org.opencontainers.image.title="taskloader" \
      org.opencontainers.image.description="Bulk-create Amazon Connect tasks from CSV/JSONL files" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 taskloader \
    && useradd --system --uid 10001 --gid taskloader --create-home \
       --home-dir /home/taskloader --shell /usr/sbin/nologin taskloader \
    && install --directory --owner taskloader --group taskloader /var/lib/taskloader

COPY --from=builder /opt/taskloader /opt/taskloader

# PYTHONUNBUFFERED: every JSON log line reaches the platform at once, also right before a stop.
# TMPDIR: the scratch directory of the working ledger (mount a volume here with a read-only root).
ENV PATH="/opt/taskloader/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    HOME=/home/taskloader \
    TMPDIR=/var/lib/taskloader

WORKDIR /var/lib/taskloader
USER 10001:10001

# The platform's stop sends SIGTERM: taskloader stops taking rows, lets in-flight calls finish
# within --grace-period (20 s, under ECS's 30 s stopTimeout), checkpoints the ledger, exits 3.
STOPSIGNAL SIGTERM
ENTRYPOINT ["taskloader"]
CMD ["--help"]
