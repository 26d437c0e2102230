{#- Fails for every usable second whose recorded spread is not (ask - bid) * 100 / ask to ten
    places, and every gap second that has prices. One unit in the tenth place is allowed: the
    monitor rounds half-even, and DuckDB divides decimals in double precision. -#}
{% test spread_matches_prices(model, recorded_column, recomputed_column) %}

select *
from {{ model }}
where
    (
        not is_gap
        and (
            {{ recorded_column }} is null
            or {{ recomputed_column }} is null
            or abs({{ recorded_column }} - {{ recomputed_column }}) > 0.0000000001
        )
    )
    or (is_gap and coalesce(bid, ask, {{ recorded_column }}) is not null)

{% endtest %}


{#- Fails for every alert of the monitor's log that no reconstructed episode explains, and every
    episode boundary the log lacks, on the books and thresholds the log covers. Alerts of seconds
    whose window file is not in the warehouse yet are left out. A restarted monitor continues
    the episodes it persisted; only a crash between an alert line and the write of its state
    file repeats an alert, so this is a finding to look at rather than a broken invariant. -#}
{% test agrees_with_alert_log(model, alerts, observations, thresholds) %}

with

observed_until as (
    select book, max(orderbook_timestamp) as last_second
    from {{ observations }}
    group by book
),

alerts as (
    select
        logged.book,
        logged.threshold_pct,
        logged.alert_state,
        logged.orderbook_timestamp
    from {{ alerts }} as logged
    inner join observed_until
        on
            logged.book = observed_until.book
            and logged.orderbook_timestamp <= observed_until.last_second
    where logged.threshold_pct in (select threshold_pct from {{ thresholds }})
),

covered as (
    select distinct book, threshold_pct from alerts
),

episode_boundaries as (
    select book, threshold_pct, 'triggered' as alert_state, triggered_at as orderbook_timestamp
    from {{ model }}
    union all
    select book, threshold_pct, 'resolved' as alert_state, episode_end as orderbook_timestamp
    from {{ model }}
    where episode_end is not null
),

expected as (
    select episode_boundaries.*
    from episode_boundaries
    inner join covered
        on
            episode_boundaries.book = covered.book
            and episode_boundaries.threshold_pct = covered.threshold_pct
),

final as (
    select
        coalesce(expected.book, alerts.book) as book,
        coalesce(expected.threshold_pct, alerts.threshold_pct) as threshold_pct,
        coalesce(expected.alert_state, alerts.alert_state) as alert_state,
        coalesce(expected.orderbook_timestamp, alerts.orderbook_timestamp) as orderbook_timestamp,
        case when alerts.book is null then 'not in the alert log' else 'no such episode' end
            as disagreement
    from expected
    full outer join alerts
        on
            expected.book = alerts.book
            and expected.threshold_pct = alerts.threshold_pct
            and expected.alert_state = alerts.alert_state
            and expected.orderbook_timestamp = alerts.orderbook_timestamp
    where expected.book is null or alerts.book is null
)

select * from final

{% endtest %}
