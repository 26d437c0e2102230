{{
    config(
        materialized=incremental_materialization(),
        unique_key='login_date',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        pre_hook="{{ delete_days_to_rebuild('login_date', ['stg_bitso_db__event_versions']) }}",
    )
}}
-- depends_on: {{ ref('stg_bitso_db__event_versions') }}

with

logins as (
    select * from {{ ref('fct_login_events') }}
    where login_date is not null
),

{% if is_incremental() %}
days_to_build as (
    {{ days_touched_since(['stg_bitso_db__event_versions'], processed_load_id('last_load_id')) }}
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
