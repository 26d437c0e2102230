with

observations as (
    select * from {{ ref('fct_spread_observations') }}
),

-- Consecutive gap seconds share one run key: epoch second minus its rank among the gaps.
gap_seconds as (
    select
        book,
        orderbook_timestamp,
        gap_reason,
        {{ epoch_seconds('orderbook_timestamp') }}
        - row_number() over (partition by book order by orderbook_timestamp) as run_key
    from observations
    where is_gap
),

unusable_intervals as (
    select
        book,
        min(orderbook_timestamp) as gap_start,
        max(orderbook_timestamp) as gap_end,
        count(*) as gap_seconds,
        'no usable quote' as gap_kind,
        {{ first_in_order('gap_reason', 'orderbook_timestamp') }} as first_gap_reason
    from gap_seconds
    group by book, run_key
),

-- Seconds with no record at all lie between two records more than a second apart: the monitor
-- was not running.
successors as (
    select
        book,
        orderbook_timestamp,
        lead(orderbook_timestamp) over (
            partition by book order by orderbook_timestamp
        ) as next_recorded
    from observations
),

unrecorded_intervals as (
    select
        book,
        orderbook_timestamp + interval '1 second' as gap_start,
        next_recorded - interval '1 second' as gap_end,
        {{ epoch_seconds('next_recorded') }} - {{ epoch_seconds('orderbook_timestamp') }} - 1
            as gap_seconds,
        'not recorded' as gap_kind,
        cast(null as {{ dbt.type_string() }}) as first_gap_reason
    from successors
    where next_recorded > orderbook_timestamp + interval '1 second'
),

final as (
    select * from unusable_intervals
    union all
    select * from unrecorded_intervals
)

select * from final
