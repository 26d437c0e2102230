{{
    config(
        materialized=incremental_materialization(),
        unique_key='activity_date',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ delete_days_to_rebuild('activity_date', ['stg_bitso_db__deposit_versions']) }}",
    )
}}
-- depends_on: {{ ref('stg_bitso_db__deposit_versions') }}

with

deposits as (
    select * from {{ ref('fct_deposits') }}
    where event_date is not null
),

{% if is_incremental() %}
days_to_build as (
    {{ days_touched_since(['stg_bitso_db__deposit_versions'], processed_load_id('last_load_id')) }}
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
