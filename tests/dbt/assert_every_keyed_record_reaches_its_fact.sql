-- Every staged record with a readable id reaches its fact table, whatever else failed to parse:
-- counts in the marts stay true.
with

staged as (
    select 'deposits' as table_name, count(*) as records
    from {{ ref('stg_bitso_db__deposits') }} where id is not null
    union all
    select 'withdrawals', count(*) from {{ ref('stg_bitso_db__withdrawals') }} where id is not null
    union all
    select 'events', count(*) from {{ ref('stg_bitso_db__events') }} where id is not null
),

in_facts as (
    select 'deposits' as table_name, count(*) as records from {{ ref('fct_deposits') }}
    union all
    select 'withdrawals', count(*) from {{ ref('fct_withdrawals') }}
    union all
    select 'events', count(*) from {{ ref('fct_events') }}
)

select staged.table_name, staged.records as staged_records, in_facts.records as fact_records
from staged
inner join in_facts on staged.table_name = in_facts.table_name
where staged.records != in_facts.records
