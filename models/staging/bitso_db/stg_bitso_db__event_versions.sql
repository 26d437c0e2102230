with

source as (
    select * from {{ source('bitso_db', 'events') }}
),

typed as (
    select
        {{ parse_integer('id') }} as id,
        id as id_text,
        user_id,
        {{ parse_utc_timestamp('event_timestamp') }} as event_timestamp,
        event_timestamp as event_timestamp_text,
        event_name,
        _snapshot_date as snapshot_date,
        _load_id as load_id,
        _loaded_at as loaded_at
    from source
)

select * from typed
