"""Benchmarks of d2l_cnn (not part of the installed package).

Run from a clone: ``python -m benchmarks.bench`` (training step and
epoch against the book's paths and PyTorch), ``python -m
benchmarks.tta`` (seconds to a trained network), ``python -m
benchmarks.threads`` (OpenMP threads whatever the import order). Each
measured side runs in its own process (``python -m benchmarks.<worker>
SPEC``); ``pip install -e ".[bench]"`` adds PyTorch and d2lzh 1.0.0.
"""
