{#- The lake sources on Spark, in `raw_schema`: `spread_observations` and `spread_alerts` are
    views over the lake's files, as text with the columns of the DuckDB sources; on the other
    engines the sources are DuckDB's external reads or the tables `ingest lake-load` fills. Run by
    declare_spark_sources. -#}
{% macro spark_lake_sources(raw_schema) -%}
    {#- The window files' columns and their Parquet types: LAKE_WINDOW_SCHEMA in
        ingest/contracts.py (tests/python/test_contracts.py keeps this copy equal to it). -#}
    {%- set window_columns = [
        ('orderbook_timestamp', 'string'),
        ('book', 'string'),
        ('bid', 'decimal(38, 18)'),
        ('ask', 'decimal(38, 18)'),
        ('spread', 'decimal(38, 10)'),
        ('observed_at', 'string'),
        ('quote_age_ms', 'bigint'),
        ('sequence', 'bigint'),
        ('source', 'string'),
        ('is_gap', 'boolean'),
        ('gap_reason', 'string'),
    ] -%}
    {%- set alert_columns = [
        'book', 'threshold', 'state', 'spread', 'bid', 'ask', 'orderbook_timestamp', 'text',
    ] -%}
    {%- set lake = env_var('BITSO_LAKE', 'bucket').rstrip('/') -%}
    {#- Each table reads every file under its folder whose name matches: the `book=` and `date=`
        folders are not read as partitions, since each row names its book and second. Spark
        lists no name that starts with `_` or `.`, so the open window (`_partial/`) and files
        being written aside (`.name.tmp`) are never read. With the columns declared, a folder
        that does not exist yet reads as empty. -#}
    {%- do run_query('create database if not exists ' ~ raw_schema) -%}
    {#- Dropped and created again, so a changed lake is seen; each dbt command lists the files
        anew, so new files need no new declaration. -#}
    {%- for table_name in [
        'spread_observations_csv', 'spread_observations_parquet', 'spread_alerts_jsonl'
    ] -%}
    {%- do run_query('drop table if exists ' ~ raw_schema ~ '.' ~ table_name) -%}
    {%- endfor -%}
    {#- As text, like the DuckDB source; a header that does not name the columns, or a row of
        the wrong width, fails the run. Python's csv module doubles a quote inside a field and
        quotes a field that holds a line break. -#}
    {%- do run_query(
        'create table ' ~ raw_schema ~ '.spread_observations_csv ('
        ~ window_columns | map('first') | join(' string, ') ~ ' string)'
        ~ " using csv options (path '" ~ lake ~ "/spreads', pathGlobFilter '*.csv', "
        ~ "recursiveFileLookup 'true', header 'true', enforceSchema 'false', mode 'FAILFAST',"
        ~ " escape '\"', multiLine 'true')"
    ) -%}
    {%- set parquet_columns = [] -%}
    {%- for name, data_type in window_columns -%}
    {%- do parquet_columns.append(name ~ ' ' ~ data_type) -%}
    {%- endfor -%}
    {%- do run_query(
        'create table ' ~ raw_schema ~ '.spread_observations_parquet (' ~ parquet_columns | join(', ') ~ ')'
        ~ " using parquet options (path '" ~ lake ~ "/spreads', pathGlobFilter '*.parquet', "
        ~ "recursiveFileLookup 'true')"
    ) -%}
    {#- A line torn by a crash mid-write is dropped, as DuckDB's ignore_errors drops it. -#}
    {%- do run_query(
        'create table ' ~ raw_schema ~ '.spread_alerts_jsonl (' ~ alert_columns | join(' string, ') ~ ' string)'
        ~ " using json options (path '" ~ lake ~ "/alerts', pathGlobFilter 'alerts.jsonl', "
        ~ "recursiveFileLookup 'true', mode 'DROPMALFORMED')"
    ) -%}
    {% set observations_view %}
        create or replace view {{ raw_schema }}.spread_observations as
        with

        csv_windows as (
            select
                *,
                _metadata.file_path as _source_file
            from {{ raw_schema }}.spread_observations_csv
        ),

        parquet_windows as (
            select
                {%- for name, data_type in window_columns %}
                cast({{ name }} as string) as {{ name }},
                {%- endfor %}
                _metadata.file_path as _source_file
            from {{ raw_schema }}.spread_observations_parquet
        ),

        final as (
            select * from csv_windows
            union all
            select * from parquet_windows
        )

        select * from final
    {% endset %}
    {%- do run_query(observations_view) -%}
    {% set alerts_view %}
        create or replace view {{ raw_schema }}.spread_alerts as
        select
            *,
            _metadata.file_path as _source_file
        from {{ raw_schema }}.spread_alerts_jsonl
    {% endset %}
    {%- do run_query(alerts_view) -%}
{%- endmacro %}
