with

deposits as (
    select * from {{ ref('fct_deposits') }}
),

withdrawals as (
    select * from {{ ref('fct_withdrawals') }}
),

transactions as (
    select user_id, event_date, is_complete from deposits
    union all
    select user_id, event_date, is_complete from withdrawals
),

dated_transactions as (
    select * from transactions
    where event_date is not null
),

date_bounds as (
    select
        min(event_date) as first_date,
        max(event_date) as last_date
    from dated_transactions
),

calendar as (
    {{ calendar_days('date_bounds', 'first_date', 'last_date') }}
),

users_per_day as (
    select
        event_date,
        count(distinct user_id) as active_users,
        count(distinct case when is_complete then user_id end) as active_users_completed
    from dated_transactions
    group by event_date
),

final as (
    select
        calendar.calendar_date as activity_date,
        coalesce(users_per_day.active_users, 0) as active_users,
        coalesce(users_per_day.active_users_completed, 0) as active_users_completed
    from calendar
    left join users_per_day on calendar.calendar_date = users_per_day.event_date
)

select * from final
