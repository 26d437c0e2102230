{#- Typing of delivered text. Each parser returns NULL for a value it cannot read, so a bad value
    never stops a build; staging keeps the text beside it and the data-quality model says why. -#}

{% macro matches_pattern(expression, pattern) -%}
    {{ return(adapter.dispatch('matches_pattern', 'bitso')(expression, pattern)) }}
{%- endmacro %}

{% macro default__matches_pattern(expression, pattern) -%}
    ({{ expression }} ~ '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__matches_pattern(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__matches_pattern(expression, pattern) -%}
    ({{ expression }} rlike '{{ pattern }}')
{%- endmacro %}


{#- At most 20 integer digits and 18 decimals: the range of decimal(38, 18), so no value is
    rounded or overflows silently. -#}
{% macro decimal_pattern() %}^-?[0-9]{1,20}([.][0-9]{1,18})?${% endmacro %}

{% macro integer_pattern() %}^-?[0-9]{1,18}${% endmacro %}

{#- ISO-like timestamp text as PostgreSQL prints it, with an optional UTC offset. -#}
{% macro timestamp_pattern(with_offset) -%}
    ^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]{1,6})?
    {%- if with_offset %}([+-][0-9]{2}(:?[0-9]{2})?|Z){% endif %}$
{%- endmacro %}


{% macro parse_decimal(column) -%}
    case
        when {{ matches_pattern(column, decimal_pattern()) }}
            then cast({{ column }} as {{ amount_type() }})
    end
{%- endmacro %}

{% macro parse_integer(column) -%}
    case
        when {{ matches_pattern(column, integer_pattern()) }}
            then cast({{ column }} as bigint)
    end
{%- endmacro %}

{#- Text with an explicit offset, such as `2020-01-10 14:11:05.63+00`. -#}
{% macro parse_timestamp_with_offset(column) -%}
    case
        when {{ matches_pattern(column, timestamp_pattern(with_offset=true)) }}
            then cast({{ column }} as timestamp with time zone)
    end
{%- endmacro %}

{#- Zone-less text, which the source system writes in UTC. -#}
{% macro parse_utc_timestamp(column) -%}
    case
        when {{ matches_pattern(column, timestamp_pattern(with_offset=false)) }}
            then {{ as_utc(column) }}
    end
{%- endmacro %}

{% macro as_utc(column) -%}
    {{ return(adapter.dispatch('as_utc', 'bitso')(column)) }}
{%- endmacro %}

{% macro default__as_utc(column) -%}
    (cast({{ column }} as timestamp) at time zone 'UTC')
{%- endmacro %}


{#- Why a delivered value did not parse, or NULL when it did. -#}
{% macro rejection_reason(raw_column, parsed_column, expected) -%}
    case
        when {{ raw_column }} is null or trim({{ raw_column }}) = '' then 'empty'
        when {{ parsed_column }} is null then 'not {{ expected }}'
    end
{%- endmacro %}
