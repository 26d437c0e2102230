{{
    config(
        materialized='incremental',
        unique_key='id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ ref('stg_bitso_db__withdrawal_versions') }}

with

withdrawals as (
    select * from {{ ref('stg_bitso_db__withdrawals') }}
    -- A row whose id did not parse cannot be keyed; the data-quality model lists it.
    where
        id is not null
        {% if is_incremental() %}
        and {{ fact_rows_to_refresh('stg_bitso_db__withdrawal_versions') }}
        {% endif %}
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
