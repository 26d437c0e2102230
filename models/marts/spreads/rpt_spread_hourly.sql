with

observations as (
    select * from {{ ref('int_spread_observations_bucketed') }}
),

hourly as (
    {{ spread_rollup('observations', 'hour_start') }}
),

final as (
    select * from hourly
)

select * from final
