with

observations as (
    select * from {{ ref('fct_spread_observations') }}
),

daily as (
    select
        book,
        {{ utc_date('orderbook_timestamp') }} as observation_date,
        count(*) as recorded_seconds,
        count(spread_pct) as observed_seconds,
        cast(min(spread_pct) as decimal(38, 10)) as min_spread_pct,
        {{ rounded_quotient('sum(spread_pct)', 'count(spread_pct)', 10) }} as mean_spread_pct,
        cast({{ exact_percentile_cont('spread_pct', 0.5) }} as decimal(38, 12)) as median_spread_pct,
        cast({{ exact_percentile_cont('spread_pct', 0.95) }} as decimal(38, 12)) as p95_spread_pct,
        cast(max(spread_pct) as decimal(38, 10)) as max_spread_pct,
        cast(
            (array_agg(bid order by orderbook_timestamp desc) filter (where not is_gap))[1]
            as {{ amount_type() }}
        ) as last_bid,
        cast(
            (array_agg(ask order by orderbook_timestamp desc) filter (where not is_gap))[1]
            as {{ amount_type() }}
        ) as last_ask
    from observations
    group by 1, 2
),

final as (
    select * from daily
)

select * from final
