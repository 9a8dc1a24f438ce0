"""Routers: ``ui`` (website and stored files), ``process`` (seed-compatible), ``v1``, ``ops``."""
