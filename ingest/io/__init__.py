"""Shared I/O: warehouse connections, lake storage and the Parquet codec."""
