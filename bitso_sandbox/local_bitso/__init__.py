"""A local stand-in for Bitso's public API: simulated books (exchange.py), and an HTTP server
speaking the documented REST API over them (http_api.py)."""
