{{
    config(
        materialized=incremental_materialization(),
        unique_key='id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ ref('stg_bitso_db__withdrawal_versions') }}
-- depends_on: {{ ref('stg_bitso_db__withdrawals') }}

with

{% if is_incremental() %}
versions_to_refresh as (
    {{ versions_to_refresh('stg_bitso_db__withdrawal_versions') }}
),

latest_versions as (
    {{ latest_version_per_id('versions_to_refresh', 'tx_status') }}
),
{% else %}
latest_versions as (
    select * from {{ ref('stg_bitso_db__withdrawals') }}
),
{% endif %}

withdrawals as (
    select * from latest_versions
    -- A row whose id did not parse cannot be keyed; the data-quality model lists it.
    where id is not null
),

users as (
    select * from {{ ref('dim_users') }}
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
