"""Numba change-statistic kernels (see kernels/dispatch.py for the contract)."""

if __name__ != "dyadflow.kernels":  # the folder is installed as dyadflow.kernels (pyproject.toml)
    raise ImportError("import dyadflow.kernels, not kernels: this folder is part of the dyadflow package")
