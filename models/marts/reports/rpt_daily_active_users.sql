{{
    config(
        materialized=incremental_materialization(),
        unique_key='activity_date',
        incremental_strategy='replace_days',
        replace_days={
            'touched_days': 'int_transaction_days_touched',
            'calendar': 'int_transaction_days_spanned',
        },
        on_schema_change='fail',
    )
}}
{#- Read by incremental runs only; named here, so it is in the lineage whichever branch runs. -#}
{%- set days_touched = ref('int_transaction_days_touched') %}

with

transactions as (
    select * from {{ ref('int_transactions_unioned') }}
    where event_date is not null
),

calendar as (
    select * from {{ ref('int_transaction_days_spanned') }}
),

-- An incremental run rebuilds the days newer loads touched and the days the report lacks yet.
days_to_build as (
    {%- if is_incremental() %}
    select touched_date from {{ days_touched }}
    where last_load_id > {{ processed_load_id('last_load_id') }}
    union
    select calendar_date from calendar
    where calendar_date not in (select activity_date from {{ this }})
    {%- else %}
    select calendar_date as touched_date from calendar
    {%- endif %}
),

users_per_day as (
    select
        event_date,
        count(distinct user_id) as active_users,
        count(distinct case when is_complete then user_id end) as active_users_completed,
        max(load_id) as last_load_id
    from transactions
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
