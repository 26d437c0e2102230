-- A data-quality finding, not a broken invariant: a load that delivers one id on several lines
-- still builds (staging keeps one version), but it must be visible. dq_snapshot_duplicates
-- lists the lines.
{{ config(severity='warn') }}

select * from {{ ref('dq_snapshot_duplicates') }}
