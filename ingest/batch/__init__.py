"""The daily batch: snapshot loading, the daily job around dbt, and the export."""
