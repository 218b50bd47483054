"""Starlette routes for the documented REST paths, each a thin translation onto a resolver."""
