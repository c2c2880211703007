"""The workbench: development tools that are not part of the product.

Local brokers (``brokers/``: Apache Kafka from Maven Central jars, Tansu and noida-db from
wheels), a real Schema Registry for tests (``schema_registry/``), the benchmarks (``bench/``)
and the commands ``ner-stage run``, ``broker`` and ``bench`` (``cli/``). Nothing in the runtime
path imports this package (ruff TID251, ``tests/unit/test_devtools_boundary.py``) and the
wheel leaves it out, so a worker pod's ``pip install .`` does not carry it; an editable install
(``pip install -e``, ``scripts/setup.sh``) or a checkout has it. See docs/ARCHITECTURE.md.
"""
