{#- The latest version of each record in `relation` (rows of a stg_bitso_db__*_versions model):
    the row of the latest snapshot day wins, then the latest load, so a late backfill never
    overrides newer data; `tie_breaker` orders duplicates within one load. Rows without an id
    cannot be matched across loads and are all kept. -#}
{% macro latest_version_per_id(relation, tie_breaker) -%}
    select * from (
        select
            *,
            case
                when id_text is null then 1
                else row_number() over (
                    partition by id_text
                    order by
                        snapshot_date desc,
                        load_id desc,
                        event_timestamp_text desc,
                        {{ tie_breaker }} desc
                )
            end as version_rank
        from {{ relation }}
    ) as ranked
    where version_rank = 1
{%- endmacro %}
