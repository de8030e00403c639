"""Tooling around the library: the benchmark, the checkpoint report, the trace CLI and headless-browser settings.

Nothing in the core imports from here.
"""
