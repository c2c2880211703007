"""The ``ner-stage`` command line: one module per command, loaded only when invoked."""
