with

observations as (
    select * from {{ ref('fct_spread_observations') }}
),

thresholds as (
    select * from {{ ref('spread_thresholds') }}
),

seconds_per_threshold as (
    select
        observations.book,
        {{ utc_date('observations.orderbook_timestamp') }} as observation_date,
        thresholds.threshold_pct,
        count(*) as recorded_seconds,
        count(observations.spread_pct) as observed_seconds,
        count(
            case when observations.spread_pct > thresholds.threshold_pct then 1 end
        ) as seconds_above
    from observations
    cross join thresholds
    group by 1, 2, 3
),

final as (
    select
        book,
        observation_date,
        threshold_pct,
        recorded_seconds,
        observed_seconds,
        seconds_above,
        {{ rounded_quotient('seconds_above', 'observed_seconds', 6) }} as share_above
    from seconds_per_threshold
)

select * from final
