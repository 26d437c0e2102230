"""Bitso market-spread monitor and snapshot loader behind the `ingest` CLI."""
