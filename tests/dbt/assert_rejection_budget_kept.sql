-- A broken delivery, not a data-quality finding: when too many of a column's values in a
-- table's latest load fail to type, the build fails and nothing downstream of staging is
-- rebuilt. The budget is exceeded when more than `rejection_budget_share` of the load's rows
-- (default 1 %) and at least `rejection_budget_min_values` values (default 10) are rejected;
-- set them with `--vars`. The failing rows are stored, so `ingest daily` can name them.
{{ config(severity='error', store_failures=true) }}
{%- set share = var('rejection_budget_share') -%}
{%- set min_values = var('rejection_budget_min_values') -%}

with

{% for table_name, model, latest_model, columns in snapshot_typed_columns() %}
{{ table_name }}_versions as (
    select * from {{ ref(model) }}
),

{{ table_name }}_latest_load as (
    select max(load_id) as load_id from {{ table_name }}_versions
),

{{ table_name }}_load_rows as (
    select {{ table_name }}_versions.*
    from {{ table_name }}_versions
    inner join {{ table_name }}_latest_load
        on {{ table_name }}_versions.load_id = {{ table_name }}_latest_load.load_id
),

{% for column, expected in columns %}
{{ table_name }}_{{ column }}_rejections as (
    select
        '{{ table_name }}' as table_name,
        '{{ column }}' as column_name,
        load_id,
        {{ column }}_text as raw_value,
        {{ rejection_reason(column ~ '_text', column, expected) }} as reason
    from {{ table_name }}_load_rows
),

{{ table_name }}_{{ column }}_budget as (
    select
        table_name,
        column_name,
        max(load_id) as load_id,
        count(*) as values_delivered,
        sum(case when reason is not null then 1 else 0 end) as values_rejected,
        min(case when reason is not null then coalesce(raw_value, '') end) as first_sample,
        max(case when reason is not null then coalesce(raw_value, '') end) as last_sample
    from {{ table_name }}_{{ column }}_rejections
    group by 1, 2
),

{% endfor %}
{% endfor %}

all_budgets as (
    {% for table_name, model, latest_model, columns in snapshot_typed_columns() %}
    {% set outer_loop = loop %}
    {% for column, expected in columns %}
    select * from {{ table_name }}_{{ column }}_budget
    {% if not (loop.last and outer_loop.last) %}union all{% endif %}
    {% endfor %}
    {% endfor %}
),

final as (
    select
        table_name,
        column_name,
        load_id,
        values_delivered,
        values_rejected,
        values_rejected * 1.0 / values_delivered as rejected_share,
        first_sample,
        last_sample
    from all_budgets
    where
        values_rejected >= {{ min_values }}
        and values_rejected > {{ share }} * values_delivered
)

select * from final
