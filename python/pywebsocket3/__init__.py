"""pywebsocket3: WebSocket handler directories on a native Rust transport."""

from pywebsocket3._native import __version__

__all__ = ["__version__"]
