"""The local Bitso (`ingest serve-bitso`) in a child process, for the monitor benchmarks."""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_local_bitso(seconds: int, *options: str) -> tuple[subprocess.Popen, str, str]:
    """Start the server for `seconds` (plus a minute of slack) on free ports; returns the process
    and its REST and WebSocket URLs, read from the line it prints once it listens."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from ingest.cli import cli; cli()",
            "serve-bitso",
            "--port",
            "0",
            *options,
            "--duration",
            str(seconds + 60),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    ready, _, _ = select.select([server.stdout], [], [], 30)
    if not ready:
        server.kill()
        raise SystemExit("the local server did not start")
    banner = server.stdout.readline().split()
    return server, banner[4], banner[-1]
