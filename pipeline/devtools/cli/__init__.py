"""The workbench's commands. ``pipeline.cli.main`` adds them to ``ner-stage`` when this package
is importable (a checkout or an editable install), the one place the runtime names it."""

#: name -> (module, one-line help shown by ``ner-stage --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "broker": ("pipeline.devtools.cli.broker", "Run a local development Kafka broker (Apache Kafka or Tansu)."),
    "run": ("pipeline.devtools.cli.run", "Run the whole stage on embedded defaults (local broker, demo documents)."),
    "bench": ("pipeline.devtools.cli.bench", "Benchmarks: engine, http, kafka, redact (JSON + PNG)."),
}
