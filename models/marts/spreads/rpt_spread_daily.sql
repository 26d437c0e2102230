with

daily as (
    {{ spread_rollup(utc_date('orderbook_timestamp'), 'observation_date') }}
),

final as (
    select * from daily
)

select * from final
