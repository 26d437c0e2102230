{#- Aggregates of the spread reports, exact on both engines: PostgreSQL's percentile_cont
    works in double precision and DuckDB divides decimals in double precision, so neither
    builtin would give the same digits on both. -#}


{#- Continuous percentile of the non-NULL values of `column` (`fraction` between 0 and 1): the
    linear interpolation between the two closest ranks, as SQL's PERCENTILE_CONT defines it
    (Hyndman and Fan's type 7). With a fraction of two decimals the result is exact at the
    column's scale plus two. -#}
{% macro exact_percentile_cont(column, fraction) -%}
    {{ return(adapter.dispatch('exact_percentile_cont', 'bitso')(column, fraction)) }}
{%- endmacro %}

{% macro default__exact_percentile_cont(column, fraction) -%}
    {%- set sorted -%}
        (array_agg({{ column }} order by {{ column }}) filter (where {{ column }} is not null))
    {%- endset -%}
    {%- set position -%}((count({{ column }}) - 1) * {{ fraction }}){%- endset -%}
    {%- set lower -%}{{ sorted }}[cast(floor({{ position }}) as integer) + 1]{%- endset -%}
    {%- set upper -%}{{ sorted }}[cast(ceil({{ position }}) as integer) + 1]{%- endset -%}
    ({{ lower }} + ({{ upper }} - {{ lower }}) * ({{ position }} - floor({{ position }})))
{%- endmacro %}


{#- `numerator / denominator` rounded half up to `scale` places, as decimal(38, scale); NULL when
    the denominator is 0. For non-negative operands whose scale is at most `scale`, so the
    quotient is one integer division. -#}
{% macro rounded_quotient(numerator, denominator, scale) -%}
    {{ return(adapter.dispatch('rounded_quotient', 'bitso')(numerator, denominator, scale)) }}
{%- endmacro %}

{% macro default__rounded_quotient(numerator, denominator, scale) -%}
    cast(
        div(
            ({{ numerator }}) * {{ 2 * 10 ** scale }} + ({{ denominator }}),
            2 * nullif({{ denominator }}, 0)
        ) * 0.{{ '0' * (scale - 1) }}1
        as decimal(38, {{ scale }})
    )
{%- endmacro %}

{% macro duckdb__rounded_quotient(numerator, denominator, scale) -%}
    cast(
        cast(
            cast(({{ numerator }}) * {{ 2 * 10 ** scale }} + ({{ denominator }}) as hugeint)
            // cast(2 * nullif({{ denominator }}, 0) as hugeint)
            as decimal(38, 0)
        ) * 0.{{ '0' * (scale - 1) }}1
        as decimal(38, {{ scale }})
    )
{%- endmacro %}
