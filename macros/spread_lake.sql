{#- A source the lake fills, or an empty relation of the same text `columns` while it cannot
    exist yet. DuckDB's external sources already stand in for missing files themselves; on
    PostgreSQL the raw table appears with the first `ingest lake-load`, so until then staging
    reads no rows instead of failing the build. -#}
{% macro lake_source_or_empty(relation, columns) -%}
    {{ return(adapter.dispatch('lake_source_or_empty', 'bitso')(relation, columns)) }}
{%- endmacro %}

{% macro default__lake_source_or_empty(relation, columns) -%}
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

{% macro duckdb__lake_source_or_empty(relation, columns) -%}
    {{ relation }}
{%- endmacro %}


{#- The UTC minute, hour or day a timestamptz falls in, as a timestamptz, whatever the session's
    time zone. -#}
{% macro utc_truncate(datepart, column) -%}
    (date_trunc('{{ datepart }}', {{ column }} at time zone 'UTC') at time zone 'UTC')
{%- endmacro %}


{#- Whole seconds since the epoch of a timestamptz, as bigint. -#}
{% macro epoch_seconds(column) -%}
    cast(extract(epoch from {{ column }}) as bigint)
{%- endmacro %}
