with

listed_event_names as (
    select * from {{ ref('event_names') }}
),

login_event_names as (
    select * from {{ ref('login_event_names') }}
),

events as (
    select * from {{ ref('stg_bitso_db__event_versions') }}
),

all_event_names as (
    select event_name from listed_event_names
    union
    select event_name from login_event_names
    union
    select event_name from events
    where event_name is not null
),

final as (
    select
        all_event_names.event_name,
        listed_event_names.description,
        login_event_names.event_name is not null as is_login,
        login_event_names.login_method,
        listed_event_names.event_name is not null as is_listed
    from all_event_names
    left join listed_event_names on all_event_names.event_name = listed_event_names.event_name
    left join login_event_names on all_event_names.event_name = login_event_names.event_name
)

select * from final
