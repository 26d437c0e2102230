{#- Each snapshot table with its versions model. -#}
{%- set snapshot_tables = snapshot_typed_columns() -%}

with

{% for table_name, versions_model, latest_model, columns in snapshot_tables %}
{{ table_name }}_versions as (
    select * from {{ ref(versions_model) }}
),

{{ table_name }}_ids_delivered_twice as (
    select
        id,
        load_id
    from {{ table_name }}_versions
    where id is not null
    group by 1, 2
    having count(*) > 1
),

{{ table_name }}_duplicates as (
    select
        '{{ table_name }}' as table_name,
        {{ table_name }}_versions.id as record_id,
        {{ table_name }}_versions.load_id,
        {{ table_name }}_versions.file_row,
        {{ table_name }}_versions.id_text as raw_id
    from {{ table_name }}_versions
    inner join {{ table_name }}_ids_delivered_twice
        on
            {{ table_name }}_versions.id = {{ table_name }}_ids_delivered_twice.id
            and {{ table_name }}_versions.load_id = {{ table_name }}_ids_delivered_twice.load_id
),

{% endfor %}

all_duplicates as (
    {% for table_name, versions_model, latest_model, columns in snapshot_tables %}
    select * from {{ table_name }}_duplicates
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select * from all_duplicates
)

select * from final
