{#- Money keeps all 18 delivered decimals and never passes through a float. -#}
{% macro amount_type() %}decimal(38, 18){% endmacro %}


{#- An instant in time: Spark's `timestamp` is one, whatever the session's time zone. -#}
{% macro timestamptz_type() -%}
    {{ return(adapter.dispatch('timestamptz_type', 'bitso')()) }}
{%- endmacro %}

{% macro default__timestamptz_type() %}timestamp with time zone{% endmacro %}

{% macro spark__timestamptz_type() %}timestamp{% endmacro %}


{#- The UTC calendar day of a timestamptz, whatever the session's time zone. -#}
{% macro utc_date(column) -%}
    {{ return(adapter.dispatch('utc_date', 'bitso')(column)) }}
{%- endmacro %}

{% macro default__utc_date(column) -%}
    cast(({{ column }} at time zone 'UTC') as date)
{%- endmacro %}

{#- Spark has no AT TIME ZONE; whole days since the epoch do not depend on the session's zone. -#}
{% macro spark__utc_date(column) -%}
    date_from_unix_date(cast(floor(unix_seconds({{ column }}) / 86400) as int))
{%- endmacro %}


{#- One row per calendar day from `start_column` to `end_column` (inclusive) of each row of
    `relation`, in a column named `calendar_date`. -#}
{% macro calendar_days(relation, start_column, end_column) -%}
    {{ return(adapter.dispatch('calendar_days', 'bitso')(relation, start_column, end_column)) }}
{%- endmacro %}

{% macro default__calendar_days(relation, start_column, end_column) -%}
    select cast(day as date) as calendar_date
    from {{ relation }},
        generate_series(
            cast({{ start_column }} as timestamp),
            cast({{ end_column }} as timestamp),
            interval '1 day'
        ) as days (day)
{%- endmacro %}

{% macro duckdb__calendar_days(relation, start_column, end_column) -%}
    select cast(unnest(generate_series(
        cast({{ start_column }} as timestamp),
        cast({{ end_column }} as timestamp),
        interval 1 day
    )) as date) as calendar_date
    from {{ relation }}
{%- endmacro %}

{% macro spark__calendar_days(relation, start_column, end_column) -%}
    select explode(sequence(
        cast({{ start_column }} as date),
        cast({{ end_column }} as date),
        interval 1 day
    )) as calendar_date
    from {{ relation }}
{%- endmacro %}


{#- The UTC minute, hour or day a timestamptz falls in, as a timestamptz, whatever the session's
    time zone. -#}
{% macro utc_truncate(datepart, column) -%}
    {{ return(adapter.dispatch('utc_truncate', 'bitso')(datepart, column)) }}
{%- endmacro %}

{% macro default__utc_truncate(datepart, column) -%}
    (date_trunc('{{ datepart }}', {{ column }} at time zone 'UTC') at time zone 'UTC')
{%- endmacro %}

{#- Spark has no AT TIME ZONE; UTC minutes, hours and days are whole multiples of their length
    in seconds since the epoch. -#}
{% macro spark__utc_truncate(datepart, column) -%}
    {%- set seconds = {'minute': 60, 'hour': 3600, 'day': 86400}[datepart] -%}
    timestamp_seconds(
        unix_seconds({{ column }}) - pmod(unix_seconds({{ column }}), {{ seconds }})
    )
{%- endmacro %}


{#- Whole seconds since the epoch of a timestamptz, as bigint. -#}
{% macro epoch_seconds(column) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'bitso')(column)) }}
{%- endmacro %}

{% macro default__epoch_seconds(column) -%}
    cast(extract(epoch from {{ column }}) as bigint)
{%- endmacro %}

{% macro spark__epoch_seconds(column) -%}
    unix_seconds({{ column }})
{%- endmacro %}
