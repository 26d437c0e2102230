with

observations as (
    select * from {{ ref('fct_spread_observations') }}
),

thresholds as (
    select * from {{ ref('spread_thresholds') }}
),

-- As in the monitor, a gap second neither opens nor closes an episode: only usable seconds count.
compared as (
    select
        observations.book,
        thresholds.threshold_pct,
        observations.orderbook_timestamp,
        observations.spread_pct,
        observations.spread_pct > thresholds.threshold_pct as is_above
    from observations
    cross join thresholds
    where not observations.is_gap
),

with_previous as (
    select
        *,
        lag(is_above) over (
            partition by book, threshold_pct order by orderbook_timestamp
        ) as was_above
    from compared
),

-- Each episode numbers its seconds above and the seconds after it up to the next episode; its
-- first second at or below the threshold is the one that resolves it.
numbered as (
    select
        *,
        sum(case when is_above and not coalesce(was_above, false) then 1 else 0 end) over (
            partition by book, threshold_pct
            order by orderbook_timestamp
            rows between unbounded preceding and current row
        ) as episode_number
    from with_previous
),

episodes as (
    select
        book,
        threshold_pct,
        min(case when is_above then orderbook_timestamp end) as episode_start,
        max(case when is_above then orderbook_timestamp end) as last_second_above,
        min(case when not is_above then orderbook_timestamp end) as episode_end,
        count(case when is_above then 1 end) as seconds_above,
        cast(max(case when is_above then spread_pct end) as decimal(38, 10)) as peak_spread_pct
    from numbered
    where episode_number > 0
    group by book, threshold_pct, episode_number
),

final as (
    select
        book,
        threshold_pct,
        episode_start,
        episode_end,
        {{ epoch_seconds('episode_end') }} - {{ epoch_seconds('episode_start') }}
            as duration_seconds,
        last_second_above,
        seconds_above,
        peak_spread_pct,
        episode_end is not null as is_resolved
    from episodes
)

select * from final
