{{
    config(
        materialized=incremental_materialization(),
        unique_key='user_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=(
            "{% if is_incremental() %}"
            "delete from {{ this }} where sixth_deposit_date is null"
            "{% endif %}"
        ),
    )
}}
{#- Read by incremental runs only; named here, so it is in the lineage whichever branch runs. -#}
{%- set deposit_versions = ref('stg_bitso_db__deposit_versions') %}

with

deposits as (
    select * from {{ ref('fct_deposits') }}
),

{% if is_incremental() %}
-- An incremental run renumbers only the users whose deposits newer loads touched.
changed_deposits as (
    select id, user_id from deposits
    where load_id > {{ processed_load_id('last_load_id') }}
),

-- A deposit that moved to another user also changes the count of the user it left.
users_to_rebuild as (
    select user_id from changed_deposits
    union
    select versions.user_id
    from {{ deposit_versions }} as versions
    where versions.id in (select changed_deposits.id from changed_deposits)
),

deposits_to_number as (
    select * from deposits
    where user_id in (select users_to_rebuild.user_id from users_to_rebuild)
),
{% else %}
deposits_to_number as (
    select * from deposits
),

users_to_rebuild as (
    select distinct user_id from deposits_to_number
),
{% endif %}

numbered_deposits as (
    select
        user_id,
        event_date,
        row_number() over (
            partition by user_id order by event_timestamp nulls last, id
        ) as deposit_number
    from deposits_to_number
),

numbered_completed_deposits as (
    select
        user_id,
        event_date,
        row_number() over (
            partition by user_id order by event_timestamp nulls last, id
        ) as deposit_number
    from deposits_to_number
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

newest_loads as (
    select
        user_id,
        max(load_id) as last_load_id
    from deposits_to_number
    group by user_id
),

-- Every rebuilt user has a row, so the merge replaces the row of one who fell below six
-- deposits; the post-hook then drops it.
final as (
    select
        users_to_rebuild.user_id,
        sixth_deposits.sixth_deposit_date,
        sixth_completed_deposits.sixth_completed_deposit_date,
        newest_loads.last_load_id
    from users_to_rebuild
    left join sixth_deposits on users_to_rebuild.user_id = sixth_deposits.user_id
    left join sixth_completed_deposits
        on users_to_rebuild.user_id = sixth_completed_deposits.user_id
    left join newest_loads on users_to_rebuild.user_id = newest_loads.user_id
    {% if not is_incremental() %}
    where sixth_deposits.user_id is not null
    {% endif %}
)

select * from final
