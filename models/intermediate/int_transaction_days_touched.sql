with

deposit_days as (
    select * from {{ ref('int_deposit_days_touched') }}
),

withdrawal_days as (
    select * from {{ ref('int_withdrawal_days_touched') }}
),

touched_days as (
    select touched_date, last_load_id from deposit_days
    union all
    select touched_date, last_load_id from withdrawal_days
),

final as (
    select
        touched_date,
        max(last_load_id) as last_load_id
    from touched_days
    group by touched_date
)

select * from final
