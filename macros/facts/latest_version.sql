{#- The latest version of each record in `relation` (rows of a stg_bitso_db__*_versions model):
    the row of the latest snapshot day wins, then the latest load, so a late backfill never
    overrides newer data; within one load, the later row of the file. `tie_breaker` orders
    duplicates within a load from before the loader numbered the rows. Records match by
    their integer id (`1000` and `01000` are one record); a row whose id is not an integer
    matches by its text, and rows without an id cannot be matched and are all kept. -#}
{% macro latest_version_per_id(relation, tie_breaker) -%}
    select * from (
        select
            *,
            case
                when id_text is null then 1
                else row_number() over (
                    partition by id, case when id is null then id_text end
                    order by
                        snapshot_date desc,
                        load_id desc,
                        file_row desc,
                        event_timestamp_text desc,
                        {{ tie_breaker }} desc
                )
            end as version_rank
        from {{ relation }}
    ) as ranked
    where version_rank = 1
{%- endmacro %}
