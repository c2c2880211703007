"""Benchmarks behind ``ner-stage bench``: each prints a table, saves JSON and a PNG plot."""
