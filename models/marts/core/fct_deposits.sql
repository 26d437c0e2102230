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
{%- set deposit_versions = ref('stg_bitso_db__deposit_versions') -%}
{%- set latest_deposits = ref('stg_bitso_db__deposits') -%}
{%- set dim_users = ref('dim_users') -%}

with

{% if is_incremental() %}
versions_to_refresh as (
    {{ versions_to_refresh(deposit_versions, dim_users) }}
),

latest_versions as (
    {{ latest_version_per_id('versions_to_refresh', 'tx_status') }}
),
{% else %}
latest_versions as (
    select * from {{ latest_deposits }}
),
{% endif %}

deposits as (
    select * from latest_versions
    -- A row whose id did not parse cannot be keyed; the data-quality model lists it.
    where id is not null
),

users as (
    select * from {{ dim_users }}
),

final as (
    select
        deposits.id,
        deposits.user_id,
        deposits.event_timestamp,
        {{ utc_date('deposits.event_timestamp') }} as event_date,
        deposits.amount,
        deposits.currency,
        deposits.tx_status,
        deposits.tx_status in ({{ complete_statuses() }}) as is_complete,
        users.is_inferred as is_user_inferred,
        deposits.load_id
    from deposits
    left join users on deposits.user_id = users.user_id
)

select * from final
