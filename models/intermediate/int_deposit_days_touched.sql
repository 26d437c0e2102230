{{
    config(
        materialized=incremental_materialization(),
        unique_key='touched_date',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

{{ days_touched(ref('stg_bitso_db__deposit_versions')) }}
