{#- A source the lake fills, or an empty relation of the same text `columns` while it cannot
    exist yet. DuckDB's external sources and Spark's lake tables (create_lake_sources) already
    stand in for missing files themselves; on PostgreSQL the raw table appears with the first
    `ingest lake-load`, so until then staging reads no rows instead of failing the build. -#}
{% macro lake_source_or_empty(relation, columns) -%}
    {{ return(adapter.dispatch('lake_source_or_empty', 'bitso')(relation, columns)) }}
{%- endmacro %}

{% macro default__lake_source_or_empty(relation, columns) -%}
    {{ relation }}
{%- endmacro %}

{% macro postgres__lake_source_or_empty(relation, columns) -%}
    {%- if execute and load_relation(relation) is none -%}
    (
        select
            {%- for column in columns %}
            cast(null as {{ dbt.type_string() }}) as {{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        where 1 = 0
    ) as {{ relation.identifier }}
    {%- else -%}
    {{ relation }}
    {%- endif -%}
{%- endmacro %}
