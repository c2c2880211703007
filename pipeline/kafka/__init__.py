"""The Kafka stage: consumer workers that micro-batch documents through NerService.

Modules: ``settings`` (typed settings -> librdkafka dicts at the edge), ``documents`` (record
-> validated document, outputs), ``processor`` (one micro-batch: decode, infer, redact, encode,
dead letters; no Kafka client), ``batcher`` (count / token / wait limits), ``dead_letters``,
``delivery`` (at-least-once commit and exactly-once transactions), ``metrics``, ``worker`` (the
poll loop, rebalance, backpressure, shutdown), ``supervisor`` (``--workers N`` processes),
``local_broker`` (an embedded Tansu broker for ``ner-stage run`` and tests).
Importing this package does not import confluent-kafka.
"""
