"""The `ingest` command line. It only parses options, calls a service and maps failures to exit
codes: 2 for bad usage, 1 for a failed run."""

from ingest.cli.app import cli

__all__ = ["cli"]
