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


{#- Digits only; the digit counts are checked apart, with length(), because counted repetitions
    make PostgreSQL's regular expressions several times slower. -#}
{% macro decimal_pattern() %}^-?[0-9]+([.][0-9]+)?${% endmacro %}

{% macro integer_pattern() %}^-?[0-9]+${% endmacro %}

{#- ISO-like timestamp text as PostgreSQL prints it (0 to 6 fractional digits), with an optional
    UTC offset; written without counted repetitions, for speed as above. -#}
{% macro timestamp_pattern(with_offset) -%}
    ^[0-9][0-9][0-9][0-9]-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9][0-9]?[0-9]?[0-9]?[0-9]?[0-9]?)?
    {%- if with_offset %}([+-][0-9][0-9](:?[0-9][0-9])?|Z){% endif %}$
{%- endmacro %}


{#- At most 20 integer digits and 18 decimals, the range of decimal(38, 18), so no value is
    rounded or overflows silently. The outer cast keeps the type's precision, which PostgreSQL
    drops from a CASE result. -#}
{% macro parse_decimal(column) -%}
    cast(
        case
            when {{ matches_pattern(column, decimal_pattern()) }}
                then case
                    when length(replace(split_part({{ column }}, '.', 1), '-', '')) <= 20
                        and length(split_part({{ column }}, '.', 2)) <= 18
                        then cast({{ column }} as {{ amount_type() }})
                end
        end
        as {{ amount_type() }}
    )
{%- endmacro %}

{#- At most 18 digits, always within bigint. -#}
{% macro parse_integer(column) -%}
    case
        when {{ matches_pattern(column, integer_pattern()) }}
            then case
                when length(replace({{ column }}, '-', '')) <= 18 then cast({{ column }} as bigint)
            end
    end
{%- endmacro %}

{#- Text with an explicit offset, such as `2020-01-10 14:11:05.63+00`. Nested CASEs, because
    SQL does not promise to evaluate the operands of AND in order. -#}
{% macro parse_timestamp_with_offset(column) -%}
    case
        when {{ matches_pattern(column, timestamp_pattern(with_offset=true)) }}
            then case
                when {{ calendar_day_exists(column) }}
                    then cast({{ column }} as {{ timestamptz_type() }})
            end
    end
{%- endmacro %}

{#- Zone-less text, which the source system writes in UTC. -#}
{% macro parse_utc_timestamp(column) -%}
    case
        when {{ matches_pattern(column, timestamp_pattern(with_offset=false)) }}
            then case
                when {{ calendar_day_exists(column) }} then {{ as_utc(column) }}
            end
    end
{%- endmacro %}

{#- Whether the `YYYY-MM-DD` that starts the text is a real day (no 30 February). -#}
{% macro calendar_day_exists(column) -%}
    {{ return(adapter.dispatch('calendar_day_exists', 'bitso')(column)) }}
{%- endmacro %}

{% macro default__calendar_day_exists(column) -%}
    cast(substr({{ column }}, 9, 2) as integer) <= extract(day from
        cast(substr({{ column }}, 1, 7) || '-01' as date) + interval '1 month' - interval '1 day'
    )
{%- endmacro %}

{% macro duckdb__calendar_day_exists(column) -%}
    try_cast(substr({{ column }}, 1, 10) as date) is not null
{%- endmacro %}

{#- try_cast reads an impossible day as NULL whether or not ANSI mode (Spark 4's default) is on;
    a plain cast fails the query there. -#}
{% macro spark__calendar_day_exists(column) -%}
    try_cast(substr({{ column }}, 1, 10) as date) is not null
{%- endmacro %}

{% macro as_utc(column) -%}
    {{ return(adapter.dispatch('as_utc', 'bitso')(column)) }}
{%- endmacro %}

{% macro default__as_utc(column) -%}
    (cast({{ column }} as timestamp) at time zone 'UTC')
{%- endmacro %}

{#- Spark has no AT TIME ZONE: an explicit offset makes the cast ignore the session's zone. -#}
{% macro spark__as_utc(column) -%}
    cast(concat({{ column }}, '+00:00') as timestamp)
{%- endmacro %}


{#- Why a delivered value did not parse, or NULL when it did. -#}
{% macro rejection_reason(raw_column, parsed_column, expected) -%}
    case
        when {{ raw_column }} is null or trim({{ raw_column }}) = '' then 'empty'
        when {{ parsed_column }} is null then 'not {{ expected }}'
    end
{%- endmacro %}
