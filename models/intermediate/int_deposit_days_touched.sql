{{
    config(
        materialized=incremental_materialization(),
        unique_key='touched_date',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

-- Imported twice, so that PostgreSQL inlines each CTE: one read twice would be materialized,
-- leaving the indexes on id_text and load_id unused.
deposit_versions as (
    select * from {{ ref('stg_bitso_db__deposit_versions') }}
),

deposit_loads as (
    select id_text, load_id from {{ ref('stg_bitso_db__deposit_versions') }}
),

-- Each record with a version in a newer load (every record in a full build), with the newest
-- load that delivered it. A version without an id cannot be matched to its record.
touched_deposits as (
    select
        id_text,
        max(load_id) as last_load_id
    from deposit_loads
    where
        id_text is not null
    {% if is_incremental() %}
        and load_id > {{ processed_load_id('last_load_id') }}
    {% endif %}
    group by 1
),

-- Every UTC day on which any version of such a record falls: the old day of a moved record
-- is touched as much as its new one.
touched_days as (
    select
        {{ utc_date('deposit_versions.event_timestamp') }} as touched_date,
        max(touched_deposits.last_load_id) as last_load_id
    from deposit_versions
    inner join touched_deposits on deposit_versions.id_text = touched_deposits.id_text
    where deposit_versions.event_timestamp is not null
    group by 1
),

final as (
    select * from touched_days
)

select * from final
