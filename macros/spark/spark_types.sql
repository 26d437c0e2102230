{#- How the Spark target spells the portable types of contracts and seeds, and reads boolean
    accepted_values. -#}


{#- The Spark name of a type that contracts and seeds spell the portable way. -#}
{% macro spark_type(data_type) -%}
    {%- set spark_names = {'text': 'string', 'timestamp with time zone': 'timestamp'} -%}
    {{ return(spark_names.get((data_type or '') | trim | lower, data_type)) }}
{%- endmacro %}

{% macro spark__get_empty_schema_sql(columns) -%}
    {%- set spark_columns = {} -%}
    {%- for name in columns -%}
        {%- do spark_columns.update({
            name: dict(columns[name], data_type=spark_type(columns[name]['data_type']))
        }) -%}
    {%- endfor -%}
    {{ return(default__get_empty_schema_sql(spark_columns)) }}
{%- endmacro %}

{#- Seeds: the same renaming of their `column_types`, then dbt-spark's own loading. -#}
{% macro spark__create_csv_table(model, agate_table) -%}
    {%- do spark_seed_column_types(model) -%}
    {{ return(dbt.spark__create_csv_table(model, agate_table)) }}
{%- endmacro %}

{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- do spark_seed_column_types(model) -%}
    {{ return(dbt.spark__load_csv_rows(model, agate_table)) }}
{%- endmacro %}

{% macro spark_seed_column_types(model) -%}
    {%- set column_types = model['config'].get('column_types', {}) -%}
    {%- for name in column_types -%}
        {%- do column_types.update({name: spark_type(column_types[name])}) -%}
    {%- endfor -%}
{%- endmacro %}


{#- accepted_values quotes every value; Spark, unlike DuckDB and PostgreSQL, does not read
    'False' as a boolean, so a list of booleans goes unquoted. -#}
{% macro spark__test_accepted_values(model, column_name, values, quote=True) -%}
    {%- set booleans = values | select('sameas', true) | list
        + values | select('sameas', false) | list -%}
    {%- set quote_values = quote and booleans | length < values | length -%}
    {{ return(default__test_accepted_values(model, column_name, values, quote_values)) }}
{%- endmacro %}
