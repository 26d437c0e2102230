{#- An incremental table whose columns are no longer those of its model's contract (a column
    renamed, dropped or added since it was built) cannot be brought up to date by appending: its
    old rows have the old shape. As an on-run-start hook (before any node runs), this drops each
    such table among the models the run builds (telling dbt's relation cache), so that the model
    builds it in full, as a full refresh would. Spark builds its incremental models as tables
    (incremental_materialization): nothing to drop there. -#}
{% macro drop_outdated_incremental_tables() -%}
    {{ return(adapter.dispatch('drop_outdated_incremental_tables', 'bitso')()) }}
{%- endmacro %}

{% macro default__drop_outdated_incremental_tables() -%}
    {%- if not execute or flags.FULL_REFRESH -%}{{ return('') }}{%- endif -%}
    {#- The contracted incremental models of this run, by their table (`schema.alias`). -#}
    {%- set models = {} -%}
    {%- for node in graph.nodes.values()
        if node.unique_id in selected_resources
        and node.config.materialized == 'incremental'
        and node.config.contract.enforced -%}
        {%- do models.update({(node.schema ~ '.' ~ node.alias) | lower: node}) -%}
    {%- endfor -%}
    {%- if not models -%}{{ return('') }}{%- endif -%}
    {%- set schemas = models.values() | map(attribute='schema') | map('lower') | unique -%}
    {%- set columns = run_query(
        "select lower(table_schema), lower(table_name), lower(column_name)"
        " from information_schema.columns where table_catalog = current_database()"
        " and lower(table_schema) in ('" ~ schemas | join("', '") ~ "')"
    ) -%}
    {%- set built = {} -%}
    {%- for schema_name, table_name, column_name in columns.rows
        if schema_name ~ '.' ~ table_name in models -%}
        {%- set table = schema_name ~ '.' ~ table_name -%}
        {%- do built.update({table: built.get(table, []) + [column_name]}) -%}
    {%- endfor -%}
    {%- for table, built_columns in built.items() -%}
        {%- set node = models[table] -%}
        {%- set contract_columns = node.columns.values() | map(attribute='name') | map('lower') -%}
        {%- if built_columns | sort | list != contract_columns | sort | list -%}
            {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
            {{ log("dropping " ~ relation ~ " to build it in full: its columns are not its"
                ~ " contract's", info=true) }}
            {%- do adapter.drop_relation(relation) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}

{% macro spark__drop_outdated_incremental_tables() %}{{ return('') }}{% endmacro %}
