with

source as (
    select * from {{ lake_source_or_empty(source('bitso_api', 'spread_alerts'), [
        'book', 'threshold', 'state', 'spread', 'bid', 'ask', 'orderbook_timestamp', 'text',
        '_source_file',
    ]) }}
),

final as (
    select
        book,
        -- Stale-feed alerts (`stale`, `fresh`) have no threshold, and `stale` no prices: the
        -- log writes those fields as empty strings.
        cast(nullif(threshold, '') as decimal(38, 10)) as threshold_pct,
        state as alert_state,
        cast(orderbook_timestamp as {{ timestamptz_type() }}) as orderbook_timestamp,
        {{ utc_date('cast(orderbook_timestamp as ' ~ timestamptz_type() ~ ')') }} as alert_date,
        cast(nullif(spread, '') as decimal(38, 10)) as spread_pct,
        cast(nullif(bid, '') as {{ amount_type() }}) as bid,
        cast(nullif(ask, '') as {{ amount_type() }}) as ask,
        text as alert_text,
        regexp_replace(_source_file, '^.*/', '') as lake_file
    from source
    -- DuckDB reads a line torn by a crash mid-write as NULLs.
    where orderbook_timestamp is not null
)

select * from final
