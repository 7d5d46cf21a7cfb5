{#- Passes when `expression` holds for every row (rows where it is false or NULL fail).
    Column-level use: the expression may refer to the column by name. -#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce(({{ expression }}), false)
{% endtest %}
