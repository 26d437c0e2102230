{#- A fact, report or intermediate model that builds incrementally remembers the newest snapshot
    load it reflects (`load_id` or `last_load_id`); a run reprocesses only what later loads
    touched. -#}

{#- The newest snapshot load this incremental table already reflects (0 when empty). -#}
{% macro processed_load_id(column='load_id') -%}
    (select coalesce(max({{ column }}), 0) from {{ this }})
{%- endmacro %}
