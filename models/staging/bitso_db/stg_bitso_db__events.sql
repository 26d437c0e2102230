with

source as (
    select * from {{ source('bitso_db', 'events') }}
),

latest_load_of_each_id as (
    select
        *,
        -- A later snapshot supersedes an earlier one; rows without an id are all kept.
        case
            when id is null then 1
            else row_number() over (
                partition by id
                order by _load_id desc, event_timestamp desc, event_name desc
            )
        end as load_recency
    from source
),

typed as (
    select
        {{ parse_integer('id') }} as id,
        id as id_text,
        user_id,
        {{ parse_utc_timestamp('event_timestamp') }} as event_timestamp,
        event_timestamp as event_timestamp_text,
        event_name,
        _load_id as load_id,
        _loaded_at as loaded_at
    from latest_load_of_each_id
    where load_recency = 1
)

select * from typed
