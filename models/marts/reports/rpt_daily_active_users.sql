{{
    config(
        materialized=incremental_materialization(),
        unique_key='activity_date',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="{{ delete_days_outside_transaction_range('activity_date') }}",
    )
}}
-- depends_on: {{ ref('stg_bitso_db__deposit_versions') }}
-- depends_on: {{ ref('stg_bitso_db__withdrawal_versions') }}

with

deposits as (
    select * from {{ ref('fct_deposits') }}
),

withdrawals as (
    select * from {{ ref('fct_withdrawals') }}
),

dated_transactions as (
    select user_id, event_date, is_complete, load_id from deposits
    where event_date is not null
    union all
    select user_id, event_date, is_complete, load_id from withdrawals
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

days_to_build as (
    {{ transaction_days_to_build('calendar') }}
),

users_per_day as (
    select
        event_date,
        count(distinct user_id) as active_users,
        count(distinct case when is_complete then user_id end) as active_users_completed,
        max(load_id) as last_load_id
    from dated_transactions
    where event_date in (select touched_date from days_to_build)
    group by event_date
),

final as (
    select
        calendar.calendar_date as activity_date,
        coalesce(users_per_day.active_users, 0) as active_users,
        coalesce(users_per_day.active_users_completed, 0) as active_users_completed,
        users_per_day.last_load_id
    from calendar
    left join users_per_day on calendar.calendar_date = users_per_day.event_date
    where calendar.calendar_date in (select touched_date from days_to_build)
)

select * from final
