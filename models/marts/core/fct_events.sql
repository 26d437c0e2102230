{{
    config(
        materialized=incremental_materialization(),
        unique_key='id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
{#- Each branch below reads other relations; naming all of them here puts them in the lineage
    whichever branch a run takes. -#}
{%- set event_versions = ref('stg_bitso_db__event_versions') -%}
{%- set latest_events = ref('stg_bitso_db__events') -%}
{%- set dim_users = ref('dim_users') -%}

with

{% if is_incremental() %}
versions_to_refresh as (
    {{ versions_to_refresh(event_versions, dim_users) }}
),

latest_versions as (
    {{ latest_version_per_id('versions_to_refresh', 'event_name') }}
),
{% else %}
latest_versions as (
    select * from {{ latest_events }}
),
{% endif %}

events as (
    select * from latest_versions
    -- A row whose id did not parse cannot be keyed; the data-quality model lists it.
    where id is not null
),

login_event_names as (
    select * from {{ ref('login_event_names') }}
),

users as (
    select * from {{ dim_users }}
),

final as (
    select
        events.id,
        events.user_id,
        events.event_timestamp,
        {{ utc_date('events.event_timestamp') }} as event_date,
        events.event_name,
        login_event_names.event_name is not null as is_login,
        users.is_inferred as is_user_inferred,
        events.load_id
    from events
    left join login_event_names on events.event_name = login_event_names.event_name
    left join users on events.user_id = users.user_id
)

select * from final
