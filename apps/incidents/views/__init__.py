"""Operator pages, one module per page: wall, queue, detail."""
