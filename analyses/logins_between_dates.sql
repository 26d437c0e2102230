-- Logins per user between two UTC calendar days, both included.
--   dbt show --select logins_between_dates --limit 20 \
--     --vars '{start_date: 2021-01-01, end_date: 2021-01-31}'
-- or `dbt compile` with the same vars and run target/compiled/.../logins_between_dates.sql.
with

daily_logins as (
    select * from {{ ref('rpt_user_daily_logins') }}
),

logins_in_range as (
    select
        user_id,
        sum(logins) as logins,
        min(login_date) as first_login_date,
        max(login_date) as last_login_date
    from daily_logins
    where
        login_date between cast('{{ var("start_date") }}' as date)
        and cast('{{ var("end_date") }}' as date)
    group by user_id
)

select * from logins_in_range
order by logins desc, user_id
