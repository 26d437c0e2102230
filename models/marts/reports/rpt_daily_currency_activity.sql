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
    where event_date is not null
),

withdrawals as (
    select * from {{ ref('fct_withdrawals') }}
    where event_date is not null
),

date_bounds as (
    select
        min(event_date) as first_date,
        max(event_date) as last_date
    from (
        select event_date from deposits
        union all
        select event_date from withdrawals
    ) as transaction_dates
),

calendar as (
    {{ calendar_days('date_bounds', 'first_date', 'last_date') }}
),

days_to_build as (
    {{ transaction_days_to_build('calendar') }}
),

deposited_currencies as (
    select
        event_date,
        count(distinct case when is_complete then currency end) as currencies_deposited,
        count(distinct currency) as currencies_deposited_any_status,
        max(load_id) as last_load_id
    from deposits
    where event_date in (select touched_date from days_to_build)
    group by event_date
),

withdrawn_currencies as (
    select
        event_date,
        count(distinct case when is_complete then currency end) as currencies_withdrawn,
        count(distinct currency) as currencies_withdrawn_any_status,
        max(load_id) as last_load_id
    from withdrawals
    where event_date in (select touched_date from days_to_build)
    group by event_date
),

final as (
    select
        calendar.calendar_date as activity_date,
        coalesce(deposited_currencies.currencies_deposited, 0) as currencies_deposited,
        coalesce(withdrawn_currencies.currencies_withdrawn, 0) as currencies_withdrawn,
        coalesce(deposited_currencies.currencies_deposited_any_status, 0)
            as currencies_deposited_any_status,
        coalesce(withdrawn_currencies.currencies_withdrawn_any_status, 0)
            as currencies_withdrawn_any_status,
        case
            when withdrawn_currencies.last_load_id is null
                then deposited_currencies.last_load_id
            when deposited_currencies.last_load_id is null
                then withdrawn_currencies.last_load_id
            when deposited_currencies.last_load_id > withdrawn_currencies.last_load_id
                then deposited_currencies.last_load_id
            else withdrawn_currencies.last_load_id
        end as last_load_id
    from calendar
    left join deposited_currencies on calendar.calendar_date = deposited_currencies.event_date
    left join withdrawn_currencies on calendar.calendar_date = withdrawn_currencies.event_date
    where calendar.calendar_date in (select touched_date from days_to_build)
)

select * from final
