with

deposits as (
    select * from {{ ref('fct_deposits') }}
),

withdrawals as (
    select * from {{ ref('fct_withdrawals') }}
),

unioned as (
    select
        'deposit' as transaction_type,
        id,
        user_id,
        event_timestamp,
        event_date,
        amount,
        currency,
        tx_status,
        is_complete,
        load_id
    from deposits

    union all

    select
        'withdrawal' as transaction_type,
        id,
        user_id,
        event_timestamp,
        event_date,
        amount,
        currency,
        tx_status,
        is_complete,
        load_id
    from withdrawals
),

final as (
    select * from unioned
)

select * from final
