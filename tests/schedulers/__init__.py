"""Tests of hpcflow.schedulers, one module per backend (mirrors the package)."""
