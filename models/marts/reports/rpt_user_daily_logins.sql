{{
    config(
        materialized=incremental_materialization(),
        unique_key='login_date',
        incremental_strategy='replace_days',
        replace_days={
            'touched_days': 'int_event_days_touched',
        },
        on_schema_change='fail',
    )
}}
{#- Read by incremental runs only; named here, so it is in the lineage whichever branch runs. -#}
{%- set days_touched = ref('int_event_days_touched') %}

with

logins as (
    select * from {{ ref('fct_login_events') }}
    where login_date is not null
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
        user_id,
        login_date,
        count(*) as logins,
        max(load_id) as last_load_id
    from logins
    {% if is_incremental() %}
    where login_date in (select touched_date from days_to_build)
    {% endif %}
    group by user_id, login_date
)

select * from final
