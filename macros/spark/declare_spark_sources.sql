{#- `dbt run-operation declare_spark_sources`: on Spark, (re)declare the raw tables the sources
    read (the snapshot files under BITSO_SNAPSHOT_ROOT and the lake under BITSO_LAKE) in the
    sources' schema, `raw` or `<BITSO_DEV_SCHEMA>_raw`. Run it once before the first build and
    again after changing either variable. On the other engines there is nothing to declare:
    `ingest snapshots` and `ingest lake-load` fill the raw tables, or DuckDB reads the lake. -#}
{% macro declare_spark_sources() -%}
    {%- if target.type != 'spark' -%}
    {{ log('declare_spark_sources: nothing to declare on ' ~ target.type, info=true) }}
    {%- else -%}
    {%- set snapshot_schema = source('bitso_db', 'deposits').schema -%}
    {%- set lake_schema = source('bitso_api', 'spread_observations').schema -%}
    {%- do spark_snapshot_sources(snapshot_schema) -%}
    {%- do spark_lake_sources(lake_schema) -%}
    {{ log(
        'declare_spark_sources: declared the snapshot sources in ' ~ snapshot_schema
        ~ ' and the lake sources in ' ~ lake_schema,
        info=true,
    ) }}
    {%- endif -%}
{%- endmacro %}
