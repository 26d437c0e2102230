with

events as (
    select * from {{ ref('fct_events') }}
    where is_login
),

login_event_names as (
    select * from {{ ref('login_event_names') }}
),

final as (
    select
        events.id,
        events.user_id,
        events.event_timestamp,
        events.event_date as login_date,
        events.event_name,
        login_event_names.login_method,
        events.load_id
    from events
    inner join login_event_names on events.event_name = login_event_names.event_name
)

select * from final
