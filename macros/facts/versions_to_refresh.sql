{#- The versions a fact model's incremental run must re-rank, from `versions` (a
    stg_bitso_db__*_versions relation): every version of each record with a row in a newer load,
    and of each record whose user has since appeared in (or left) `users` (dim_users), so
    `is_user_inferred` stays what a full refresh would compute. The fact passes both relations
    with ref(), so they are in its lineage. Records match by their integer id, as the facts key
    them, so a version delivered with the id spelled otherwise (`01000`) re-ranks the record. -#}
{% macro versions_to_refresh(versions, users) -%}
    select * from {{ versions }}
    where id in (
        select id from {{ versions }}
        where load_id > {{ processed_load_id() }}
        union
        select id from {{ versions }}
        where user_id in (
            select existing.user_id
            from {{ this }} as existing
            inner join {{ users }} as users on existing.user_id = users.user_id
            where existing.is_user_inferred != users.is_inferred
        )
    )
{%- endmacro %}
