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

deposits as (
    select * from {{ ref('fct_deposits') }}
    where event_date is not null
),

withdrawals as (
    select * from {{ ref('fct_withdrawals') }}
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
