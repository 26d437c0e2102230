with

observations as (
    select * from {{ ref('int_spread_observations_bucketed') }}
),

minutely as (
    {{ spread_rollup('observations', 'minute_start') }}
),

final as (
    select * from minutely
)

select * from final
