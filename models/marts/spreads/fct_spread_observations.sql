{{
    config(
        materialized=incremental_materialization(),
        unique_key=['book', 'orderbook_timestamp'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

observations as (
    select * from {{ ref('stg_bitso_api__spread_observations') }}
    {% if is_incremental() %}
    -- The last day is read again: a window published late (a journal recovered after a crash,
    -- a restart within a window) or reloaded on PostgreSQL replaces its rows. An empty table
    -- (built before the lake had any file) takes everything.
    where orderbook_timestamp >= (
        select
            coalesce(
                max(orderbook_timestamp) - interval '1 day',
                cast('1970-01-01 00:00:00+00' as timestamp with time zone)
            )
        from {{ this }}
    )
    {% endif %}
),

final as (
    select
        book,
        orderbook_timestamp,
        {{ utc_date('orderbook_timestamp') }} as observation_date,
        bid,
        ask,
        spread_pct,
        is_gap,
        gap_reason,
        observed_at,
        quote_age_ms,
        sequence_number,
        quote_source,
        lake_file
    from observations
)

select * from final
