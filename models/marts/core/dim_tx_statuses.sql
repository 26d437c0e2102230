with

listed_statuses as (
    select * from {{ ref('tx_statuses') }}
),

deposits as (
    select * from {{ ref('stg_bitso_db__deposit_versions') }}
),

withdrawals as (
    select * from {{ ref('stg_bitso_db__withdrawal_versions') }}
),

all_statuses as (
    select tx_status from listed_statuses
    union
    select tx_status from deposits
    where tx_status is not null
    union
    select tx_status from withdrawals
    where tx_status is not null
),

final as (
    select
        all_statuses.tx_status,
        listed_statuses.description,
        all_statuses.tx_status in ({{ complete_statuses() }}) as is_complete,
        listed_statuses.tx_status is not null as is_listed
    from all_statuses
    left join listed_statuses on all_statuses.tx_status = listed_statuses.tx_status
)

select * from final
