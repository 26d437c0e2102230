with

observations as (
    select * from {{ ref('fct_spread_observations') }}
),

final as (
    select
        book,
        orderbook_timestamp,
        {{ utc_truncate('minute', 'orderbook_timestamp') }} as minute_start,
        {{ utc_truncate('hour', 'orderbook_timestamp') }} as hour_start,
        {{ utc_date('orderbook_timestamp') }} as observation_date,
        bid,
        ask,
        spread_pct,
        is_gap
    from observations
)

select * from final
