# The project's image: the `ingest` CLI, dbt and the dbt project, ready to run any job.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# cron and logrotate for the scheduler service; flock (util-linux) keeps one run of each job.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends cron logrotate util-linux \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# A plain install: the commands find the dbt project (and its thresholds seed) through
# DBT_PROJECT_DIR, not through the package's location.
COPY pyproject.toml README.md ./
COPY ingest ./ingest
COPY bitso_sandbox ./bitso_sandbox
RUN pip install . && rm -rf build

ENV DBT_PROJECT_DIR=/app
COPY dbt_project.yml profiles.yml.example ./
COPY seeds ./seeds
COPY models ./models
COPY macros ./macros
COPY tests/dbt ./tests/dbt
COPY analyses ./analyses
COPY deploy ./deploy
RUN cp profiles.yml.example profiles.yml \
    && mkdir -p bucket warehouse logs snapshots \
    && cp deploy/crontab.docker /etc/cron.d/bitso && chmod 0644 /etc/cron.d/bitso

CMD ["ingest", "--help"]
