{#- How the incremental models materialize. Spark rebuilds them in full: a Parquet table cannot
    delete the rows an incremental run replaces (no delete+insert, and merge needs Delta), and
    insert_overwrite replaces whole partitions, which neither a record (facts) nor a day whose
    last record moved away (reports) maps onto without dropping partitions by hand. -#}
{% macro incremental_materialization() -%}
    {{ return(adapter.dispatch('incremental_materialization', 'bitso')()) }}
{%- endmacro %}

{% macro default__incremental_materialization() %}{{ return('incremental') }}{% endmacro %}

{% macro spark__incremental_materialization() %}{{ return('table') }}{% endmacro %}
