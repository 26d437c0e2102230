with

deposits as (
    select * from {{ ref('fct_deposits') }}
    where event_date is not null
),

final as (
    select
        event_date as activity_date,
        currency,
        cast(coalesce(sum(case when is_complete then amount end), 0) as {{ amount_type() }})
            as total_deposited,
        count(case when is_complete then 1 end) as deposits,
        cast(coalesce(sum(amount), 0) as {{ amount_type() }}) as total_attempted
    from deposits
    group by event_date, currency
)

select * from final
