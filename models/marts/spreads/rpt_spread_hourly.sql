with

hourly as (
    {{ spread_rollup(utc_truncate('hour', 'orderbook_timestamp'), 'hour_start') }}
),

final as (
    select * from hourly
)

select * from final
