with

users as (
    select * from {{ ref('stg_bitso_db__users') }}
),

deposits as (
    select * from {{ ref('stg_bitso_db__deposit_versions') }}
),

withdrawals as (
    select * from {{ ref('stg_bitso_db__withdrawal_versions') }}
),

events as (
    select * from {{ ref('stg_bitso_db__event_versions') }}
),

referenced_users as (
    select user_id from deposits
    union
    select user_id from withdrawals
    union
    select user_id from events
),

inferred_users as (
    select referenced_users.user_id
    from referenced_users
    left join users on referenced_users.user_id = users.user_id
    where
        referenced_users.user_id is not null
        and users.user_id is null
),

final as (
    select
        user_id,
        false as is_inferred
    from users

    union all

    select
        user_id,
        true as is_inferred
    from inferred_users
)

select * from final
