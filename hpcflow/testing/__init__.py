"""Test suites shipped with hpcflow, for its own backends and for users' backends.

Needs pytest (``pip install hpcflow[test]``).
"""
