with

observations as (
    select * from {{ ref('fct_spread_observations') }}
),

alert_rules as (
    select * from {{ ref('spread_thresholds') }}
),

-- Each book meets the rules whose books it is one of. As in the monitor, a gap second neither
-- opens nor closes an episode, and neither advances nor interrupts a pending or clearing period:
-- only usable seconds count. Each is above the threshold, clear (at or below clear_below, by
-- default the threshold), or in the band between.
compared as (
    select
        observations.book,
        alert_rules.threshold_pct,
        coalesce(alert_rules.for_seconds, 0) as for_seconds,
        coalesce(alert_rules.clear_for_seconds, 0) as clear_for_seconds,
        observations.orderbook_timestamp,
        {{ epoch_seconds('observations.orderbook_timestamp') }} as observed_epoch,
        observations.spread_pct,
        case
            when observations.spread_pct > alert_rules.threshold_pct then 'above'
            when
                observations.spread_pct
                <= coalesce(alert_rules.clear_below_pct, alert_rules.threshold_pct)
                then 'clear'
            else 'band'
        end as spread_level
    from observations
    inner join alert_rules
        on {{ book_in_rule('observations.book', 'alert_rules.books') }}
    where not observations.is_gap
),

with_previous as (
    select
        *,
        lag(spread_level) over (
            partition by book, threshold_pct order by orderbook_timestamp
        ) as previous_level
    from compared
),

-- A run is a stretch of consecutive usable seconds at one level.
runs as (
    select
        *,
        sum(case when previous_level = spread_level then 0 else 1 end) over (
            partition by book, threshold_pct
            order by orderbook_timestamp
            rows between unbounded preceding and current row
        ) as run_number
    from with_previous
),

with_run_start as (
    select
        *,
        min(orderbook_timestamp) over (
            partition by book, threshold_pct, run_number
        ) as run_start,
        min(observed_epoch) over (partition by book, threshold_pct, run_number) as run_start_epoch
    from runs
),

-- A run above triggers at its first second `for` seconds after it began; the episode starts
-- with the run.
triggers as (
    select
        book,
        threshold_pct,
        min(run_start) as episode_start,
        min(orderbook_timestamp) as triggered_at
    from with_run_start
    where spread_level = 'above' and observed_epoch - run_start_epoch >= for_seconds
    group by book, threshold_pct, run_number
),

-- A clear run resolves an open episode at its first second `clear_for` seconds after it began.
resolutions as (
    select
        book,
        threshold_pct,
        min(orderbook_timestamp) as resolved_at
    from with_run_start
    where spread_level = 'clear' and observed_epoch - run_start_epoch >= clear_for_seconds
    group by book, threshold_pct, run_number
),

trigger_ends as (
    select
        triggers.book,
        triggers.threshold_pct,
        triggers.episode_start,
        triggers.triggered_at,
        min(resolutions.resolved_at) as episode_end
    from triggers
    left join resolutions
        on
            triggers.book = resolutions.book
            and triggers.threshold_pct = resolutions.threshold_pct
            and triggers.triggered_at < resolutions.resolved_at
    group by triggers.book, triggers.threshold_pct, triggers.episode_start, triggers.triggered_at
),

-- Runs above that trigger while an episode is open belong to it: the first one opened it.
episodes as (
    select
        book,
        threshold_pct,
        episode_end,
        min(episode_start) as episode_start,
        min(triggered_at) as triggered_at
    from trigger_ends
    group by book, threshold_pct, episode_end
),

episode_seconds as (
    select
        episodes.book,
        episodes.threshold_pct,
        episodes.episode_start,
        max(compared.orderbook_timestamp) as last_second_above,
        count(*) as seconds_above,
        cast(max(compared.spread_pct) as decimal(38, 10)) as peak_spread_pct
    from episodes
    inner join compared
        on
            episodes.book = compared.book
            and episodes.threshold_pct = compared.threshold_pct
            and compared.spread_level = 'above'
            and compared.orderbook_timestamp >= episodes.episode_start
            and (
                episodes.episode_end is null
                or compared.orderbook_timestamp < episodes.episode_end
            )
    group by episodes.book, episodes.threshold_pct, episodes.episode_start
),

final as (
    select
        episodes.book,
        episodes.threshold_pct,
        episodes.episode_start,
        episodes.triggered_at,
        episodes.episode_end,
        {{ epoch_seconds('episodes.episode_end') }} - {{ epoch_seconds('episodes.episode_start') }}
            as duration_seconds,
        episode_seconds.last_second_above,
        episode_seconds.seconds_above,
        episode_seconds.peak_spread_pct,
        episodes.episode_end is not null as is_resolved
    from episodes
    inner join episode_seconds
        on
            episodes.book = episode_seconds.book
            and episodes.threshold_pct = episode_seconds.threshold_pct
            and episodes.episode_start = episode_seconds.episode_start
)

select * from final
