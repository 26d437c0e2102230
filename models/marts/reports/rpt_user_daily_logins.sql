with

logins as (
    select * from {{ ref('fct_login_events') }}
),

final as (
    select
        user_id,
        login_date,
        count(*) as logins
    from logins
    where login_date is not null
    group by user_id, login_date
)

select * from final
