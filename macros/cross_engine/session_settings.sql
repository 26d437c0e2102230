{#- Run before every model. PostgreSQL's JIT compiler costs one to three seconds on each query
    whose estimated cost is high, which the incremental models' plans often are while their real
    work is small: it made a day's incremental build slower than it needed to be. -#}
{% macro session_settings() -%}
    {{ return(adapter.dispatch('session_settings', 'bitso')()) }}
{%- endmacro %}

{% macro default__session_settings() %}{% endmacro %}

{% macro postgres__session_settings() %}set jit = off{% endmacro %}
