{#- Whether `book` is one of the thresholds seed's `books` (space-separated names and glob
    patterns, as in the alert rules file); an empty or null list is every book. The patterns
    become one anchored regular expression: `*` any text, `?` one character, `[!...]` a negated
    set; `book_patterns_are_plain` keeps out everything else a regular expression would read. -#}
{% macro book_in_rule(book, books) -%}
    (
        coalesce({{ books }}, '') = ''
        or {{ regex_matches(book,
            "'^(' || replace(replace(replace(replace(" ~ books
            ~ ", '[!', '[^'), '*', '.*'), '?', '.'), ' ', '|') || ')$'") }}
    )
{%- endmacro %}


{#- Fails for every row whose book patterns hold a character other than lower-case letters,
    digits, `_`, `-`, `*`, `?`, `[`, `]`, `!` and the spaces between patterns. -#}
{% test book_patterns_are_plain(model, column_name) %}

select {{ column_name }}
from {{ model }}
where
    translate({{ column_name }}, 'abcdefghijklmnopqrstuvwxyz0123456789_-*?[]! ', '') <> ''

{% endtest %}
