with

deposits as (
    select * from {{ ref('fct_deposits') }}
),

numbered_deposits as (
    select
        user_id,
        event_date,
        row_number() over (
            partition by user_id order by event_timestamp nulls last, id
        ) as deposit_number
    from deposits
),

numbered_completed_deposits as (
    select
        user_id,
        event_date,
        row_number() over (
            partition by user_id order by event_timestamp nulls last, id
        ) as deposit_number
    from deposits
    where is_complete
),

sixth_deposits as (
    select user_id, event_date as sixth_deposit_date
    from numbered_deposits
    where deposit_number = 6
),

sixth_completed_deposits as (
    select user_id, event_date as sixth_completed_deposit_date
    from numbered_completed_deposits
    where deposit_number = 6
),

final as (
    select
        sixth_deposits.user_id,
        sixth_deposits.sixth_deposit_date,
        sixth_completed_deposits.sixth_completed_deposit_date
    from sixth_deposits
    left join sixth_completed_deposits
        on sixth_deposits.user_id = sixth_completed_deposits.user_id
)

select * from final
