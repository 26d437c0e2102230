{#- Aggregates of the spread reports, exact on every engine: PostgreSQL's percentile_cont
    works in double precision and DuckDB divides decimals in double precision, so neither
    builtin would give the same digits on both. -#}


{#- Continuous percentile of the non-NULL values of `column` (`fraction` between 0 and 1): the
    linear interpolation between the two closest ranks, as SQL's PERCENTILE_CONT defines it
    (Hyndman and Fan's type 7). The values have at most `scale` decimal places; the result is
    exact at `scale` plus the fraction's places. -#}
{% macro exact_percentile_cont(column, fraction, scale) -%}
    {{ return(adapter.dispatch('exact_percentile_cont', 'bitso')(column, fraction, scale)) }}
{%- endmacro %}

{% macro default__exact_percentile_cont(column, fraction, scale) -%}
    {%- set sorted -%}
        (array_agg({{ column }} order by {{ column }}) filter (where {{ column }} is not null))
    {%- endset -%}
    {%- set position -%}((count({{ column }}) - 1) * {{ fraction }}){%- endset -%}
    {%- set lower -%}{{ sorted }}[cast(floor({{ position }}) as integer) + 1]{%- endset -%}
    {%- set upper -%}{{ sorted }}[cast(ceil({{ position }}) as integer) + 1]{%- endset -%}
    ({{ lower }} + ({{ upper }} - {{ lower }}) * ({{ position }} - floor({{ position }})))
{%- endmacro %}

{#- Spark gives up decimal places as soon as a result would need more than 38 digits (a sum of
    two decimal(38, 10) is a decimal(38, 9)), so the values are taken as decimal(35 - f, scale),
    f being the fraction's places: the interpolation then fits in 38 digits without rounding.
    Spread percentages stay far below the 10^(25 - f) this allows at 10 places. -#}
{% macro spark__exact_percentile_cont(column, fraction, scale) -%}
    {%- set fraction_places = ((fraction | string).split('.') + [''])[1] | length -%}
    {%- set value_type = 'decimal(' ~ (35 - fraction_places) ~ ', ' ~ scale ~ ')' -%}
    {%- set sorted -%}sort_array(collect_list(cast({{ column }} as {{ value_type }}))){%- endset -%}
    {%- set position -%}((count({{ column }}) - 1) * {{ fraction }}){%- endset -%}
    {%- set lower -%}element_at({{ sorted }}, cast(floor({{ position }}) as int) + 1){%- endset -%}
    {%- set upper -%}element_at({{ sorted }}, cast(ceil({{ position }}) as int) + 1){%- endset -%}
    {%- set weight_type = 'decimal(%d, %d)' % ([fraction_places, 1] | max, fraction_places) -%}
    {%- set weight -%}
        cast({{ position }} - floor({{ position }}) as {{ weight_type }})
    {%- endset -%}
    {#- element_at fails on an empty array, where the other engines give NULL. -#}
    case
        when count({{ column }}) > 0
            then {{ lower }} + ({{ upper }} - {{ lower }}) * {{ weight }}
    end
{%- endmacro %}


{#- `numerator / denominator` rounded half up to `scale` places, as decimal(38, scale); NULL when
    the denominator is 0. For non-negative operands whose scale is at most `scale`, so the
    quotient is one integer division. On Spark that division returns a bigint, so the quotient
    times 10^scale must stay below 2^63 (about 9.2e18), as means of percentages and shares do. -#}
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


{#- The `value` of the first row in the order of `order_column` (the last with `descending`),
    among the rows where `condition` holds. -#}
{% macro first_in_order(value, order_column, descending=false, condition=none) -%}
    {{ return(adapter.dispatch('first_in_order', 'bitso')(
        value, order_column, descending, condition
    )) }}
{%- endmacro %}

{% macro default__first_in_order(value, order_column, descending, condition) -%}
    (
        array_agg({{ value }} order by {{ order_column }}{% if descending %} desc{% endif %})
        {%- if condition %} filter (where {{ condition }}){% endif %}
    )[1]
{%- endmacro %}

{#- Spark's array_agg takes no ORDER BY. -#}
{% macro spark__first_in_order(value, order_column, descending, condition) -%}
    {{ 'max_by' if descending else 'min_by' }}({{ value }}, {{ order_column }})
    {%- if condition %} filter (where {{ condition }}){% endif %}
{%- endmacro %}


{#- The spread (ask - bid) * 100 / ask in percent, recomputed to ten places to check the
    recorded one. -#}
{% macro recomputed_spread_pct(bid, ask) -%}
    {{ return(adapter.dispatch('recomputed_spread_pct', 'bitso')(bid, ask)) }}
{%- endmacro %}

{% macro default__recomputed_spread_pct(bid, ask) -%}
    cast(round(({{ ask }} - {{ bid }}) * 100 / {{ ask }}, 10) as decimal(38, 10))
{%- endmacro %}

{#- Spark's decimal quotient of two 18-place prices keeps only 6 places, so it divides in double
    precision, as DuckDB does; the check allows for that. -#}
{% macro spark__recomputed_spread_pct(bid, ask) -%}
    cast(
        round(
            (cast({{ ask }} as double) - cast({{ bid }} as double)) * 100
            / cast({{ ask }} as double),
            10
        ) as decimal(38, 10)
    )
{%- endmacro %}
