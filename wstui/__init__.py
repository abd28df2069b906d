"""wstui: a terminal monitor for market-data WebSocket feeds."""

__version__ = "0.1.0"
