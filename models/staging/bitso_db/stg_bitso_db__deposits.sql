with

versions as (
    select * from {{ ref('stg_bitso_db__deposit_versions') }}
),

ranked as (
    select
        *,
        -- The row of the latest snapshot day wins, so a late backfill never overrides newer
        -- data; rows without an id cannot be matched across loads and are all kept.
        case
            when id_text is null then 1
            else row_number() over (
                partition by id_text
                order by snapshot_date desc, load_id desc, event_timestamp_text desc, tx_status desc
            )
        end as version_rank
    from versions
),

latest as (
    select * from ranked
    where version_rank = 1
)

select * from latest
