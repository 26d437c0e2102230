{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        indexes=lookup_indexes(['id', 'load_id']),
    )
}}
-- A table, not a view: each delivered row is typed once, when its load first arrives, instead of
-- in every model and test that reads it. Raw rows are only ever appended, in load order.
-- A table built before the loader numbered the file rows gains file_row, NULL for the loads
-- before it, as a full refresh would leave them.

with

source as (
    select * from {{ source('bitso_db', 'deposits') }}
),

typed as (
    select
        {{ parse_integer('id') }} as id,
        id as id_text,
        user_id,
        {{ parse_timestamp('event_timestamp') }} as event_timestamp,
        event_timestamp as event_timestamp_text,
        {{ parse_decimal('amount') }} as amount,
        amount as amount_text,
        currency,
        tx_status,
        _snapshot_date as snapshot_date,
        _load_id as load_id,
        _file_row as file_row,
        _loaded_at as loaded_at
    from source
    {% if is_incremental() %}
    where _load_id > {{ processed_load_id() }}
    {% endif %}
)

select * from typed
