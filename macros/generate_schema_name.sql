{#- Models land in the schema their folder names (staging, core, reports, ...) rather than in
    `<target schema>_<name>`: the warehouse's layout reads the same on every engine. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
