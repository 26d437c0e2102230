with

source as (
    select * from {{ source('bitso_db', 'deposits') }}
),

typed as (
    select
        {{ parse_integer('id') }} as id,
        id as id_text,
        user_id,
        {{ parse_timestamp_with_offset('event_timestamp') }} as event_timestamp,
        event_timestamp as event_timestamp_text,
        {{ parse_decimal('amount') }} as amount,
        amount as amount_text,
        currency,
        tx_status,
        _snapshot_date as snapshot_date,
        _load_id as load_id,
        _loaded_at as loaded_at
    from source
)

select * from typed
