with

users as (
    select * from {{ ref('dim_users') }}
),

deposits as (
    select * from {{ ref('fct_deposits') }}
),

deposits_per_user as (
    select
        user_id,
        count(*) as deposit_attempts,
        count(case when is_complete then 1 end) as completed_deposits
    from deposits
    group by user_id
),

final as (
    select
        users.user_id,
        coalesce(deposits_per_user.deposit_attempts, 0) as deposit_attempts
    from users
    left join deposits_per_user on users.user_id = deposits_per_user.user_id
    where coalesce(deposits_per_user.completed_deposits, 0) = 0
)

select * from final
