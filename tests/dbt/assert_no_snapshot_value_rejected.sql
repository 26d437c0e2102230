-- A data-quality finding, not a broken invariant: rejected values must be visible in every
-- build, but they never stop the pipeline. dq_snapshot_rejections says what and why.
{{ config(severity='warn') }}

select * from {{ ref('dq_snapshot_rejections') }}
