{#- The versions a fact model's incremental run must re-rank, from `versions` (a
    stg_bitso_db__*_versions relation): every version of each record with a row in a newer load,
    and of each record whose user has since appeared in (or left) `users` (dim_users), so
    `is_user_inferred` stays what a full refresh would compute. The fact passes both relations
    with ref(), so they are in its lineage. -#}
{% macro versions_to_refresh(versions, users) -%}
    select * from {{ versions }}
    where id_text in (
        select id_text from {{ versions }}
        where load_id > {{ processed_load_id() }}
        union
        select id_text from {{ versions }}
        where user_id in (
            select existing.user_id
            from {{ this }} as existing
            inner join {{ users }} as users on existing.user_id = users.user_id
            where existing.is_user_inferred != users.is_inferred
        )
    )
{%- endmacro %}
