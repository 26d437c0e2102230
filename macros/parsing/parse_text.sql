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

{#- An optional sign, then digits: `01000`, `+1000` and `1000` are the same id. -#}
{% macro integer_pattern() %}^[+-]?[0-9]+${% endmacro %}

{#- ISO-8601 or PostgreSQL timestamp text: a space or `T` between date and time, 0 to 9
    fractional digits, then no zone, `Z`, or an offset `+HH`, `+HHMM` or `+HH:MM`; written
    without counted repetitions, for speed as above. -#}
{% macro timestamp_pattern() -%}
    ^[0-9][0-9][0-9][0-9]-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9][0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?[0-9]?)?(Z|[+-][0-9][0-9](:?[0-9][0-9])?)?$
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

{#- At most 18 digits, always within bigint; surrounding spaces are ignored. -#}
{% macro parse_integer(column) -%}
    case
        when {{ matches_pattern('trim(' ~ column ~ ')', integer_pattern()) }}
            then case
                when length(replace(replace(trim({{ column }}), '-', ''), '+', '')) <= 18
                    then cast(trim({{ column }}) as bigint)
            end
    end
{%- endmacro %}

{#- Timestamp text in any form timestamp_pattern takes, as a timestamptz: text without a zone is
    UTC, an offset is converted to UTC. Nested CASEs, because SQL does not promise to evaluate
    the operands of AND in order. -#}
{% macro parse_timestamp(column) -%}
    case
        when {{ matches_pattern(column, timestamp_pattern()) }}
            then case
                when {{ calendar_day_exists(column) }}
                    then cast(
                        case
                            when {{ has_zone(column) }} then {{ column }}
                            else {{ dbt.concat([column, "'+00:00'"]) }}
                        end
                        as {{ timestamptz_type() }}
                    )
            end
    end
{%- endmacro %}

{#- Whether text already matching timestamp_pattern ends with a zone: only a zone puts a sign or
    a `Z` after the seconds (the 19th character). -#}
{% macro has_zone(column) -%}
    (substr({{ column }}, 20) like '%+%' or substr({{ column }}, 20) like '%-%'
        or substr({{ column }}, 20) like '%Z')
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

{#- Why a delivered value did not parse, or NULL when it did. -#}
{% macro rejection_reason(raw_column, parsed_column, expected) -%}
    case
        when {{ raw_column }} is null or trim({{ raw_column }}) = '' then 'empty'
        when {{ parsed_column }} is null then 'not {{ expected }}'
    end
{%- endmacro %}


{#- Each snapshot table with its versions model, its latest-version model and its typed columns,
    each with what its text was expected to be: the list the data-quality models and the
    rejection budget read. The snapshot contracts in ingest/contracts.py define it (the loader's
    data-quality summary reads them); tests/python/test_contracts.py keeps this copy equal. -#}
{% macro snapshot_typed_columns() -%}
    {{ return([
        ('deposits', 'stg_bitso_db__deposit_versions', 'stg_bitso_db__deposits', [
            ('id', 'an integer'),
            ('event_timestamp', 'an ISO-8601 timestamp'),
            ('amount', 'a decimal(38, 18)'),
        ]),
        ('withdrawals', 'stg_bitso_db__withdrawal_versions', 'stg_bitso_db__withdrawals', [
            ('id', 'an integer'),
            ('event_timestamp', 'an ISO-8601 timestamp'),
            ('amount', 'a decimal(38, 18)'),
        ]),
        ('events', 'stg_bitso_db__event_versions', 'stg_bitso_db__events', [
            ('id', 'an integer'),
            ('event_timestamp', 'an ISO-8601 timestamp'),
        ]),
    ]) }}
{%- endmacro %}
