{{
    config(
        materialized='incremental',
        unique_key='id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}
-- depends_on: {{ ref('stg_bitso_db__deposit_versions') }}

with

deposits as (
    select * from {{ ref('stg_bitso_db__deposits') }}
    -- A row whose id did not parse cannot be keyed; the data-quality model lists it.
    where
        id is not null
        {% if is_incremental() %}
        and {{ fact_rows_to_refresh('stg_bitso_db__deposit_versions') }}
        {% endif %}
),

users as (
    select * from {{ ref('dim_users') }}
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
