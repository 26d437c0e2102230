with

observations as (
    select * from {{ ref('int_spread_observations_bucketed') }}
),

daily as (
    {{ spread_rollup('observations', 'observation_date') }}
),

final as (
    select * from daily
)

select * from final
