with

source as (
    select * from {{ lake_source_or_empty(source('bitso_api', 'spread_observations'), [
        'orderbook_timestamp', 'book', 'bid', 'ask', 'spread', 'observed_at', 'quote_age_ms',
        'sequence', 'source', 'is_gap', 'gap_reason', '_source_file',
    ]) }}
),

typed as (
    select
        book,
        cast(orderbook_timestamp as {{ timestamptz_type() }}) as orderbook_timestamp,
        cast(bid as {{ amount_type() }}) as bid,
        cast(ask as {{ amount_type() }}) as ask,
        cast(spread as decimal(38, 10)) as spread_pct,
        cast(observed_at as {{ timestamptz_type() }}) as observed_at,
        cast(quote_age_ms as bigint) as quote_age_ms,
        cast(sequence as bigint) as sequence_number,
        source as quote_source,
        cast(is_gap as boolean) as is_gap,
        gap_reason,
        -- The window file's name is unique in the lake; its path differs between the engines.
        regexp_replace(_source_file, '^.*/', '') as lake_file
    from source
),

recomputed as (
    select
        *,
        {{ recomputed_spread_pct('bid', 'ask') }} as recomputed_spread_pct
    from typed
),

-- The monitor writes one row per book and second; should two files ever hold the same second
-- (a window rewritten in the other format), a usable quote wins over a gap.
deduplicated as (
    select
        *,
        row_number() over (
            partition by book, orderbook_timestamp
            order by is_gap, lake_file desc
        ) as copy_number
    from recomputed
),

final as (
    select
        book,
        orderbook_timestamp,
        bid,
        ask,
        spread_pct,
        recomputed_spread_pct,
        is_gap,
        gap_reason,
        observed_at,
        quote_age_ms,
        sequence_number,
        quote_source,
        lake_file
    from deduplicated
    where copy_number = 1
)

select * from final
