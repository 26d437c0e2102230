{#- incremental_strategy='replace_days', for a report with one row set per UTC day: in one step,
    delete every day the run rebuilds and insert the new rows. `unique_key` names the day
    column. The model's `replace_days` config names the models (which it must ref itself) that
    say which days to delete besides those of the new rows:
      touched_days: a model of `touched_date` and `last_load_id` (the newest load that touched
        the day, see int_deposit_days_touched); every day touched by a load newer than the
        report's `last_load_id` is deleted, so a day that lost its last record disappears.
      calendar (optional): a model of `calendar_date`, the days a zero-filled report spans; the
        days before its first or after its last are deleted, as the span shrinks.
    A plain delete+insert would keep a day the new rows no longer have. -#}
{% macro get_incremental_replace_days_sql(arg_dict) -%}
    {{ return(adapter.dispatch('get_incremental_replace_days_sql', 'bitso')(arg_dict)) }}
{%- endmacro %}

{% macro default__get_incremental_replace_days_sql(arg_dict) -%}
    {%- set day_column = arg_dict['unique_key'] -%}
    {%- set options = config.get('replace_days') or {} -%}
    {%- if day_column is not string or not options.get('touched_days') -%}
        {{ exceptions.raise_compiler_error(
            "replace_days needs unique_key (the day column) and replace_days={'touched_days':"
            " '<model>'} in the config of " ~ this
        ) }}
    {%- endif -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set new_rows = arg_dict['temp_relation'] -%}
    {%- set touched_days = ref(options['touched_days']) -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where
        {{ day_column }} in (select {{ day_column }} from {{ new_rows }})
        or {{ day_column }} in (
            select touched_date from {{ touched_days }}
            where last_load_id > {{ processed_load_id('last_load_id') }}
        )
        {%- if options.get('calendar') %}
        {%- set calendar = ref(options['calendar']) %}
        or {{ day_column }} < (select min(calendar_date) from {{ calendar }})
        or {{ day_column }} > (select max(calendar_date) from {{ calendar }})
        {%- endif %};

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ new_rows }}
{%- endmacro %}

{#- Spark's Parquet tables cannot delete rows: there incremental_materialization() builds these
    reports as tables, so this strategy never runs. -#}
{% macro spark__get_incremental_replace_days_sql(arg_dict) -%}
    {{ exceptions.raise_compiler_error(
        "replace_days deletes rows, which Spark's Parquet tables cannot do: materialize "
        ~ this ~ " with incremental_materialization(), a table on Spark"
    ) }}
{%- endmacro %}
