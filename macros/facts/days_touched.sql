{#- The UTC days touched by the versions of `versions` newer than the calling model last
    processed (every day in a full build): the body of the int_*_days_touched models, one per
    snapshot table. Called with the model's own ref(), so the lineage stays in the DAG. -#}
{% macro days_touched(versions) -%}
with

-- Imported twice, so that PostgreSQL inlines each CTE: one read twice would be materialized,
-- leaving the indexes on id and load_id unused.
record_versions as (
    select * from {{ versions }}
),

record_loads as (
    select id, load_id from {{ versions }}
),

-- Each record with a version in a newer load (every record in a full build), with the newest
-- load that delivered it. Records match by their integer id, so a record delivered again with
-- its id spelled otherwise (`01000`) touches its old day too; a version without an integer id
-- never reaches the facts.
touched_records as (
    select
        id,
        max(load_id) as last_load_id
    from record_loads
    where
        id is not null
    {% if is_incremental() %}
        and load_id > {{ processed_load_id('last_load_id') }}
    {% endif %}
    group by 1
),

-- Every UTC day on which any version of such a record falls: the old day of a moved record
-- is touched as much as its new one.
touched_days as (
    select
        {{ utc_date('record_versions.event_timestamp') }} as touched_date,
        max(touched_records.last_load_id) as last_load_id
    from record_versions
    inner join touched_records on record_versions.id = touched_records.id
    where record_versions.event_timestamp is not null
    group by 1
),

final as (
    select * from touched_days
)

select * from final
{%- endmacro %}
