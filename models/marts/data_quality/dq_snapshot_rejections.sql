{#- Each typed column of each staged snapshot, with what its text was expected to be. -#}
{%- set typed_columns = [
    ('deposits', 'stg_bitso_db__deposits', 'id', 'an integer'),
    ('deposits', 'stg_bitso_db__deposits', 'event_timestamp', 'a timestamp with a UTC offset'),
    ('deposits', 'stg_bitso_db__deposits', 'amount', 'a decimal(38, 18)'),
    ('withdrawals', 'stg_bitso_db__withdrawals', 'id', 'an integer'),
    ('withdrawals', 'stg_bitso_db__withdrawals', 'event_timestamp', 'a timestamp with a UTC offset'),
    ('withdrawals', 'stg_bitso_db__withdrawals', 'amount', 'a decimal(38, 18)'),
    ('events', 'stg_bitso_db__events', 'id', 'an integer'),
    ('events', 'stg_bitso_db__events', 'event_timestamp', 'a zone-less timestamp'),
] -%}

with

{% for table_name, model, column, expected in typed_columns %}
{{ table_name }}_{{ column }}_rejections as (
    select
        '{{ table_name }}' as table_name,
        id_text as record_id,
        '{{ column }}' as column_name,
        {{ column }}_text as raw_value,
        {{ rejection_reason(column ~ '_text', column, expected) }} as reason,
        {{ 'false' if column == 'id' else 'true' }} as reaches_facts,
        load_id
    from {{ ref(model) }}
),
{% endfor %}

all_rejections as (
    {% for table_name, model, column, expected in typed_columns %}
    select * from {{ table_name }}_{{ column }}_rejections
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select * from all_rejections
    where reason is not null
)

select * from final
