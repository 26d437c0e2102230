with

source as (
    select * from {{ source('bitso_db', 'users') }}
),

latest_load_of_each_user as (
    select
        user_id,
        max(_snapshot_date) as snapshot_date,
        max(_load_id) as load_id,
        max(_loaded_at) as loaded_at
    from source
    where user_id is not null
    group by user_id
)

select * from latest_load_of_each_user
