with

versions as (
    select * from {{ ref('stg_bitso_db__event_versions') }}
),

latest as (
    {{ latest_version_per_id('versions', 'event_name') }}
)

select * from latest
