with

versions as (
    select * from {{ ref('stg_bitso_db__deposit_versions') }}
),

latest as (
    {{ latest_version_per_id('versions', 'tx_status') }}
)

select * from latest
