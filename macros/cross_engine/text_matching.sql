{#- Whether `value` matches the regular expression `pattern` anywhere (anchor it with ^ and $ for
    a whole match). The pattern may be an expression; the three engines share the syntax of
    names, `.`, `*`, `|`, groups and bracket sets. -#}
{% macro regex_matches(value, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'bitso')(value, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(value, pattern) -%}
    regexp_matches({{ value }}, {{ pattern }})
{%- endmacro %}

{#- `~` binds as tightly as `||`, so the pattern is parenthesised. -#}
{% macro postgres__regex_matches(value, pattern) -%}
    ({{ value }} ~ ({{ pattern }}))
{%- endmacro %}

{% macro spark__regex_matches(value, pattern) -%}
    ({{ value }} rlike ({{ pattern }}))
{%- endmacro %}
