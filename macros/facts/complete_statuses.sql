{#- The `complete_tx_statuses` var as a SQL list of literals, for `tx_status in (...)`. -#}
{% macro complete_statuses() -%}
    {%- for status in var('complete_tx_statuses') -%}
        '{{ status }}'{% if not loop.last %}, {% endif %}
    {%- endfor -%}
{%- endmacro %}
