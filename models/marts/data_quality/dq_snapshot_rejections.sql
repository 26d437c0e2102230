{%- set snapshot_tables = snapshot_typed_columns() -%}

with

{% for table_name, versions_model, model, columns in snapshot_tables %}
{{ table_name }}_with_a_null_value as (
    -- Only a record with a NULL typed value can have a rejected one: narrow before unpivoting.
    select * from {{ ref(model) }}
    where
    {% for column, expected in columns %}
        {% if not loop.first %}or {% endif %}{{ column }} is null
    {% endfor %}
),

{% for column, expected in columns %}
{{ table_name }}_{{ column }}_rejections as (
    select
        '{{ table_name }}' as table_name,
        id_text as record_id,
        '{{ column }}' as column_name,
        {{ column }}_text as raw_value,
        {{ rejection_reason(column ~ '_text', column, expected) }} as reason,
        {{ 'false' if column == 'id' else 'true' }} as reaches_facts,
        load_id
    from {{ table_name }}_with_a_null_value
),
{% endfor %}
{% endfor %}

all_rejections as (
    {% for table_name, versions_model, model, columns in snapshot_tables %}
    {% set outer_loop = loop %}
    {% for column, expected in columns %}
    select * from {{ table_name }}_{{ column }}_rejections
    {% if not (loop.last and outer_loop.last) %}union all{% endif %}
    {% endfor %}
    {% endfor %}
),

final as (
    select * from all_rejections
    where reason is not null
)

select * from final
