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
        cast(threshold as decimal(38, 10)) as threshold_pct,
        state as alert_state,
        cast(orderbook_timestamp as {{ timestamptz_type() }}) as orderbook_timestamp,
        {{ utc_date('cast(orderbook_timestamp as ' ~ timestamptz_type() ~ ')') }} as alert_date,
        cast(spread as decimal(38, 10)) as spread_pct,
        cast(bid as {{ amount_type() }}) as bid,
        cast(ask as {{ amount_type() }}) as ask,
        text as alert_text,
        regexp_replace(_source_file, '^.*/', '') as lake_file
    from source
    -- DuckDB reads a line torn by a crash mid-write as NULLs.
    where orderbook_timestamp is not null
)

select * from final
