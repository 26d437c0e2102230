{#- Helpers of the incremental models. A fact or report remembers the newest snapshot load it
    reflects (`load_id` or `last_load_id`); a run reprocesses only what later loads touched. -#}

{#- The newest snapshot load this incremental table already reflects (0 when empty). -#}
{% macro processed_load_id(column='load_id') -%}
    (select coalesce(max({{ column }}), 0) from {{ this }})
{%- endmacro %}


{#- The versions a fact model's incremental run must re-rank: every version of each record with a
    row in a newer load, and of each record whose user has since appeared in (or left) the users
    snapshot, so `is_user_inferred` stays what a full refresh would compute. -#}
{% macro versions_to_refresh(versions_model) -%}
    select * from {{ ref(versions_model) }}
    where id_text in (
        select id_text from {{ ref(versions_model) }}
        where load_id > {{ processed_load_id() }}
        union
        select id_text from {{ ref(versions_model) }}
        where user_id in (
            select existing.user_id
            from {{ this }} as existing
            inner join {{ ref('dim_users') }} as users on existing.user_id = users.user_id
            where existing.is_user_inferred != users.is_inferred
        )
    )
{%- endmacro %}


{#- The UTC days a report must recompute: every day on which any version of a record touched by
    a newer load falls, the old day of a moved record included. -#}
{% macro days_touched_since(versions_models, watermark) -%}
    {%- for versions_model in versions_models %}
    select {{ utc_date('event_timestamp') }} as touched_date
    from {{ ref(versions_model) }}
    where
        event_timestamp is not null
        and id_text in (
            select id_text from {{ ref(versions_model) }}
            where load_id > {{ watermark }}
        )
    {% if not loop.last %}union{% endif %}
    {%- endfor %}
{%- endmacro %}


{#- Pre-hook of a day-grained incremental report: drop the days it is about to rebuild. The
    delete+insert merge alone would keep a day that no longer has any row (its last record moved
    to another day). -#}
{% macro delete_days_to_rebuild(date_column, versions_models) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where {{ date_column }} in (
        {{ days_touched_since(versions_models, processed_load_id('last_load_id')) }}
    )
    {%- endif -%}
{%- endmacro %}


{#- Post-hook of a zero-filled daily report: drop days outside the current first-to-last
    transaction range, which shrinks when its first or last day loses all its records. -#}
{% macro delete_days_outside_transaction_range(date_column) -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where
        {{ date_column }} < (
            select min(event_date) from (
                select event_date from {{ ref('fct_deposits') }}
                union all
                select event_date from {{ ref('fct_withdrawals') }}
            ) as transaction_dates
        )
        or {{ date_column }} > (
            select max(event_date) from (
                select event_date from {{ ref('fct_deposits') }}
                union all
                select event_date from {{ ref('fct_withdrawals') }}
            ) as transaction_dates
        )
    {%- endif -%}
{%- endmacro %}


{#- The days a zero-filled daily transaction report builds, as `touched_date`: in an incremental
    run, the days newer loads touched plus the calendar days it does not have yet; otherwise every
    day of `calendar` (a CTE with a `calendar_date` column). -#}
{% macro transaction_days_to_build(calendar) -%}
    {%- if is_incremental() %}
    {{ days_touched_since(
        ['stg_bitso_db__deposit_versions', 'stg_bitso_db__withdrawal_versions'],
        processed_load_id('last_load_id'),
    ) }}
    union
    select calendar_date from {{ calendar }}
    where calendar_date not in (select activity_date from {{ this }})
    {%- else %}
    select calendar_date as touched_date from {{ calendar }}
    {%- endif %}
{%- endmacro %}
