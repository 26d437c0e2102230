with

transactions as (
    select * from {{ ref('int_transactions_unioned') }}
    where event_date is not null
),

date_bounds as (
    select
        min(event_date) as first_date,
        max(event_date) as last_date
    from transactions
),

calendar as (
    {{ calendar_days('date_bounds', 'first_date', 'last_date') }}
),

final as (
    select calendar_date from calendar
)

select * from final
