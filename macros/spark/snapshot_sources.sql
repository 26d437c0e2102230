{#- The raw snapshot tables on Spark, in `raw_schema`: views over the CSV files of the daily
    layout `ingest daily` reads, `$BITSO_SNAPSHOT_ROOT/<YYYY-MM-DD>/<file>.csv`, with the lineage
    columns derived from each file. On the other engines `ingest snapshots` fills them. Run by
    declare_spark_sources. -#}
{% macro spark_snapshot_sources(raw_schema) -%}
    {#- The snapshot tables in the load order of `ingest snapshots`, with their file's columns. -#}
    {%- set tables = [
        ('deposits', 'deposit_sample_data.csv',
            ['id', 'event_timestamp', 'user_id', 'amount', 'currency', 'tx_status']),
        ('withdrawals', 'withdrawals_sample_data.csv',
            ['id', 'event_timestamp', 'user_id', 'amount', 'interface', 'currency', 'tx_status']),
        ('events', 'event_sample_data.csv', ['id', 'event_timestamp', 'user_id', 'event_name']),
        ('users', 'user_id_sample_data.csv', ['user_id']),
    ] -%}
    {#- Each table reads the files of its name anywhere under the root, and keeps those in a
        folder named after a day. With the columns declared, a root with no day folder yet (or
        none at all) reads as empty tables, so a spread-only run needs no snapshots. -#}
    {%- set root = env_var('BITSO_SNAPSHOT_ROOT', 'snapshots').rstrip('/') -%}
    {%- set under_root = "path '" ~ root ~ "', recursiveFileLookup 'true'" -%}
    {%- do run_query('create database if not exists ' ~ raw_schema) -%}
    {#- Dropped and created again, so a changed root is seen; each dbt command lists the files
        anew, so new day folders need no new declaration. -#}
    {%- do run_query('drop table if exists ' ~ raw_schema ~ '.snapshot_files') -%}
    {%- do run_query(
        "create table " ~ raw_schema ~ ".snapshot_files using binaryFile options ("
        ~ under_root ~ ", pathGlobFilter '*.csv')"
    ) -%}
    {%- for table_name, file_name, columns in tables -%}
    {%- do run_query('drop table if exists ' ~ raw_schema ~ '.' ~ table_name ~ '_csv') -%}
    {#- Every value is text, as delivered; a header that does not name the columns, or a row of
        the wrong width, fails the run rather than loading shifted values. -#}
    {%- do run_query(
        'create table ' ~ raw_schema ~ '.' ~ table_name ~ '_csv (' ~ columns | join(' string, ') ~ ' string)'
        ~ " using csv options (" ~ under_root ~ ", pathGlobFilter '" ~ file_name ~ "',"
        ~ " header 'true', enforceSchema 'false', mode 'FAILFAST')"
    ) -%}
    {% set lineage_view %}
        create or replace view {{ raw_schema }}.{{ table_name }} as
        with

        delivered as (
            select
                *,
                _metadata.file_path as _source_file,
                _metadata.file_modification_time as _loaded_at,
                -- A large file is read in blocks by several tasks, each in file order: the
                -- block's offset, then the order within it, is the row's place in the file.
                _metadata.file_block_start as _block_start,
                monotonically_increasing_id() as _read_order
            from {{ raw_schema }}.{{ table_name }}_csv
        ),

        dated as (
            select
                *,
                try_cast(regexp_extract(
                    _source_file, '/([0-9]{4}-[0-9]{2}-[0-9]{2})/[^/]+$', 1
                ) as date) as _snapshot_date
            from delivered
        ),

        final as (
            select
                {{ columns | join(', ') }},
                -- One load per day folder and table, numbered in the order `ingest daily` would
                -- load them, and stable when an older day is added later.
                cast(date_format(dated._snapshot_date, 'yyyyMMdd') as bigint) * 10
                    + {{ loop.index }} as _load_id,
                dated._snapshot_date,
                dated._source_file,
                sha2(files.content, 256) as _file_checksum,
                dated._loaded_at,
                -- bigint, as on the other engines (Spark numbers rows as int).
                cast(row_number() over (
                    partition by dated._source_file
                    order by dated._block_start, dated._read_order
                ) as bigint) as _file_row
            from dated
            left join {{ raw_schema }}.snapshot_files as files on dated._source_file = files.path
            where dated._snapshot_date is not null
        )

        select * from final
    {% endset %}
    {%- do run_query(lineage_view) -%}
    {%- endfor %}
    {% set loads_view %}
        create or replace view {{ raw_schema }}.snapshot_loads as
        with

        loads as (
            {% for table_name, file_name, columns in tables %}
            select
                _load_id as load_id,
                '{{ table_name }}' as table_name,
                _snapshot_date as snapshot_date,
                _source_file as source_file,
                count(*) as rows_read,
                count(*) as rows_loaded,
                _loaded_at as loaded_at
            from {{ raw_schema }}.{{ table_name }}
            group by _load_id, _snapshot_date, _source_file, _loaded_at
            {% if not loop.last %}union all{% endif %}
            {% endfor %}
        ),

        final as (
            select
                loads.load_id,
                loads.table_name,
                loads.snapshot_date,
                loads.source_file,
                sha2(files.content, 256) as file_checksum,
                loads.rows_read,
                loads.rows_loaded,
                loads.loaded_at
            from loads
            left join {{ raw_schema }}.snapshot_files as files on loads.source_file = files.path
        )

        select * from final
    {% endset %}
    {%- do run_query(loads_view) -%}
{%- endmacro %}
