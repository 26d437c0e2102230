with

listed_currencies as (
    select * from {{ ref('currencies') }}
),

deposits as (
    select * from {{ ref('stg_bitso_db__deposit_versions') }}
),

withdrawals as (
    select * from {{ ref('stg_bitso_db__withdrawal_versions') }}
),

observed_currencies as (
    select currency from deposits
    union
    select currency from withdrawals
),

all_currencies as (
    select currency from listed_currencies
    union
    select currency from observed_currencies
    where currency is not null
),

final as (
    select
        all_currencies.currency,
        listed_currencies.currency_kind,
        listed_currencies.currency is not null as is_listed
    from all_currencies
    left join listed_currencies on all_currencies.currency = listed_currencies.currency
)

select * from final
