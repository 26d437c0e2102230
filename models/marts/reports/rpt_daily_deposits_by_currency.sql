{{
    config(
        materialized=incremental_materialization(),
        unique_key='activity_date',
        incremental_strategy='replace_days',
        replace_days={
            'touched_days': 'int_deposit_days_touched',
        },
        on_schema_change='fail',
    )
}}
{#- Read by incremental runs only; named here, so it is in the lineage whichever branch runs. -#}
{%- set days_touched = ref('int_deposit_days_touched') %}

with

deposits as (
    select * from {{ ref('fct_deposits') }}
    where event_date is not null
),

{% if is_incremental() %}
-- An incremental run rebuilds the days newer loads touched.
days_to_build as (
    select touched_date from {{ days_touched }}
    where last_load_id > {{ processed_load_id('last_load_id') }}
),
{% endif %}

final as (
    select
        event_date as activity_date,
        currency,
        cast(coalesce(sum(case when is_complete then amount end), 0) as {{ amount_type() }})
            as total_deposited,
        count(case when is_complete then 1 end) as deposits,
        cast(coalesce(sum(amount), 0) as {{ amount_type() }}) as total_attempted,
        max(load_id) as last_load_id
    from deposits
    {% if is_incremental() %}
    where event_date in (select touched_date from days_to_build)
    {% endif %}
    group by event_date, currency
)

select * from final
