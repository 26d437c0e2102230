{#- Spread statistics per book and period of `observations` (int_spread_observations_bucketed):
    `period_column` is the period's start (or day). Shared by the minutely, hourly and daily
    reports, which differ only in the period. -#}
{% macro spread_rollup(observations, period_column) -%}
    select
        book,
        {{ period_column }},
        count(*) as recorded_seconds,
        count(spread_pct) as observed_seconds,
        cast(min(spread_pct) as decimal(38, 10)) as min_spread_pct,
        {{ rounded_quotient('sum(spread_pct)', 'count(spread_pct)', 10) }} as mean_spread_pct,
        cast({{ exact_percentile_cont('spread_pct', 0.5, 10) }} as decimal(38, 12))
            as median_spread_pct,
        cast({{ exact_percentile_cont('spread_pct', 0.95, 10) }} as decimal(38, 12))
            as p95_spread_pct,
        cast(max(spread_pct) as decimal(38, 10)) as max_spread_pct,
        cast(
            {{ first_in_order(
                'bid', 'orderbook_timestamp', descending=true, condition='not is_gap'
            ) }} as {{ amount_type() }}
        ) as last_bid,
        cast(
            {{ first_in_order(
                'ask', 'orderbook_timestamp', descending=true, condition='not is_gap'
            ) }} as {{ amount_type() }}
        ) as last_ask
    from {{ observations }}
    group by 1, 2
{%- endmacro %}
