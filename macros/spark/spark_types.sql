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

{#- Seed rows as literals rather than dbt-spark's bindings, which its session connection writes
    as '<value>' (an empty cell, None, becomes the text 'None', and a quote breaks the statement)
    or as a float (a decimal loses its digits). -#}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- do spark_seed_column_types(model) -%}
    {%- set column_types = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for name in agate_table.column_names -%}
        {%- do types.append(column_types.get(name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                (
                {%- for value in row -%}
                    cast({{ spark_seed_literal(value) }} as {{ types[loop.index0] }})
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%}
                ){%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{%- endmacro %}

{#- A seed cell as a Spark literal: null, a boolean, a number in its own digits, or quoted text
    with Spark's backslash escapes. -#}
{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is sameas true or value is sameas false -%}
        {{ 'true' if value else 'false' }}
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        '{{ (value | string).replace('\\', '\\\\').replace("'", "\\'") }}'
    {%- endif -%}
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
