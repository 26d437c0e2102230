with

logins as (
    select * from {{ ref('fct_login_events') }}
),

final as (
    select
        user_id,
        max(event_timestamp) as last_login_at,
        count(*) as login_count
    from logins
    group by user_id
)

select * from final
