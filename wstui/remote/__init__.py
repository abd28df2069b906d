"""Serving a running monitor to viewers and attaching viewers to monitors (see protocol.py)."""
