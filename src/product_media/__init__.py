"""Product images and videos behind an Ecwid REST API v3 compatible API."""

__version__ = "0.1.0"
