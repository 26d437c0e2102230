# The project's image: the `ingest` CLI, dbt and the dbt project, ready to run any job.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY ingest ./ingest
RUN pip install .

COPY dbt_project.yml profiles.yml.example ./
COPY models ./models
COPY seeds ./seeds
COPY macros ./macros
COPY tests/dbt ./tests/dbt
COPY analyses ./analyses
RUN cp profiles.yml.example profiles.yml

RUN useradd --create-home --uid 10001 bitso && mkdir -p /app/bucket /app/warehouse /app/target /app/logs \
    && chown -R bitso /app
USER bitso

CMD ["ingest", "--help"]
