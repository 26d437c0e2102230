{#- The `indexes` config of a table read by key, one single-column index per name: PostgreSQL
    only. There they serve the lookups by id and by load; DuckDB reads by zone maps instead, and
    dbt-duckdb lists a table's indexes through duckdb_indexes(), which fails while another dbt
    thread swaps a table that has indexes, so on DuckDB they would forbid a parallel build. -#}
{% macro lookup_indexes(columns) -%}
    {{ return(adapter.dispatch('lookup_indexes', 'bitso')(columns)) }}
{%- endmacro %}

{% macro default__lookup_indexes(columns) %}{{ return([]) }}{% endmacro %}

{% macro postgres__lookup_indexes(columns) -%}
    {%- set indexes = [] -%}
    {%- for column in columns -%}
        {%- do indexes.append({'columns': [column]}) -%}
    {%- endfor -%}
    {{ return(indexes) }}
{%- endmacro %}

{#- A DuckDB warehouse built when these indexes were declared there still has them, and dbt-duckdb
    would drop them at the next full refresh while other threads run: the race above. As an
    on-run-start hook (before any node runs), on DuckDB only: the statements dropping every index
    on a table of the project's models, the project declaring none there. -#}
{% macro drop_outdated_duckdb_indexes() -%}
    {{ return(adapter.dispatch('drop_outdated_duckdb_indexes', 'bitso')()) }}
{%- endmacro %}

{% macro default__drop_outdated_duckdb_indexes() %}{{ return('') }}{% endmacro %}

{% macro duckdb__drop_outdated_duckdb_indexes() -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set model_tables = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
        {%- do model_tables.append(node.schema ~ '.' ~ node.alias) -%}
    {%- endfor -%}
    {%- set indexes = run_query(
        "select schema_name, table_name, index_name from duckdb_indexes()"
        " where database_name = current_database()"
    ) -%}
    {%- for schema_name, table_name, index_name in indexes.rows
        if schema_name ~ '.' ~ table_name in model_tables %}
    drop index "{{ schema_name }}"."{{ index_name }}";
    {%- endfor -%}
{%- endmacro %}
