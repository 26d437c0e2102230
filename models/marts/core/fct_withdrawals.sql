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
{%- set withdrawal_versions = ref('stg_bitso_db__withdrawal_versions') -%}
{%- set latest_withdrawals = ref('stg_bitso_db__withdrawals') -%}
{%- set dim_users = ref('dim_users') -%}

with

{% if is_incremental() %}
versions_to_refresh as (
    {{ versions_to_refresh(withdrawal_versions, dim_users) }}
),

latest_versions as (
    {{ latest_version_per_id('versions_to_refresh', 'tx_status') }}
),
{% else %}
latest_versions as (
    select * from {{ latest_withdrawals }}
),
{% endif %}

withdrawals as (
    select * from latest_versions
    -- A row whose id did not parse cannot be keyed; the data-quality model lists it.
    where id is not null
),

users as (
    select * from {{ dim_users }}
),

final as (
    select
        withdrawals.id,
        withdrawals.user_id,
        withdrawals.event_timestamp,
        {{ utc_date('withdrawals.event_timestamp') }} as event_date,
        withdrawals.amount,
        withdrawals.currency,
        withdrawals.tx_status,
        withdrawals.interface,
        withdrawals.tx_status in ({{ complete_statuses() }}) as is_complete,
        users.is_inferred as is_user_inferred,
        withdrawals.load_id
    from withdrawals
    left join users on withdrawals.user_id = users.user_id
)

select * from final
