"""Tooling beside the product, never imported by it: a local, simulated Bitso API with scripted
faults (`local_bitso`), the sample-snapshot generator (`sample`) and the demo scripts
(`scripts/`)."""
