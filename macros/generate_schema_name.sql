{#- The schema a model or seed lands in. In production (BITSO_DEV_SCHEMA unset or empty) a custom
    schema keeps its plain name (staging, intermediate, core, reports, ...), so the warehouse's
    layout reads the same on every engine. In a development build (BITSO_DEV_SCHEMA=alice, whose
    profile then targets the schema `alice`) it becomes `<target schema>_<name>` (`alice_core`),
    dbt's own convention, so several people can build side by side in one database; the raw
    sources move to `alice_raw` the same way. A node without a custom schema lands in the
    target's schema either way. ingest's Settings.schema applies the same rule. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set dev_schema = env_var('BITSO_DEV_SCHEMA', '') -%}
    {%- if dev_schema and target.schema != dev_schema -%}
        {{ exceptions.raise_compiler_error(
            'BITSO_DEV_SCHEMA is ' ~ dev_schema ~ ' but the target schema is ' ~ target.schema
            ~ ": take the profile's schema from BITSO_DEV_SCHEMA, as profiles.yml.example does"
        ) }}
    {%- endif -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif dev_schema -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
