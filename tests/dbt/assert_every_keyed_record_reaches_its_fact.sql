-- Every delivered record with a readable id reaches its fact table exactly once, whatever else
-- failed to parse (ids compare as integers: `1000` and `01000` are one record): counts in the
-- marts stay true.
with

delivered as (
    select 'deposits' as table_name, count(distinct id) as records
    from {{ ref('stg_bitso_db__deposit_versions') }} where id is not null
    union all
    select 'withdrawals' as table_name, count(distinct id) as records
    from {{ ref('stg_bitso_db__withdrawal_versions') }} where id is not null
    union all
    select 'events' as table_name, count(distinct id) as records
    from {{ ref('stg_bitso_db__event_versions') }} where id is not null
),

in_facts as (
    select 'deposits' as table_name, count(*) as records from {{ ref('fct_deposits') }}
    union all
    select 'withdrawals' as table_name, count(*) as records from {{ ref('fct_withdrawals') }}
    union all
    select 'events' as table_name, count(*) as records from {{ ref('fct_events') }}
)

select
    delivered.table_name,
    delivered.records as delivered_records,
    in_facts.records as fact_records
from delivered
inner join in_facts on delivered.table_name = in_facts.table_name
where delivered.records != in_facts.records
