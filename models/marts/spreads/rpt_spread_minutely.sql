with

minutely as (
    {{ spread_rollup(utc_truncate('minute', 'orderbook_timestamp'), 'minute_start') }}
),

final as (
    select * from minutely
)

select * from final
