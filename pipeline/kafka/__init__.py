"""The Kafka stage: consumer workers that micro-batch documents through NerService.

Modules: ``settings`` (typed settings -> librdkafka dicts at the edge), ``clients`` (the only
confluent-kafka calls, ``KafkaException`` mapped to typed errors), ``errors`` (record errors vs
stage errors), ``documents`` (record -> validated document, outputs), ``records`` (``Pending``,
``Output``), ``processor`` (one micro-batch: decode, infer, redact, encode; no Kafka client),
``batcher`` (count / token / wait limits), ``dead_letters`` (builds every dead letter),
``breaker`` (the dead-letter circuit breaker), ``checkpoint`` (uncommitted offsets, the open
transaction, refused outputs), ``delivery`` (at-least-once commit order and exactly-once
transactions), ``sender`` (producing outputs), ``metrics``, ``worker`` (the poll loop,
rebalance, backpressure, shutdown), ``supervisor`` (``--workers N`` processes, death reports).
The local brokers for ``ner-stage run`` and the tests are the workbench's (``pipeline.devtools``).
Importing this package does not import confluent-kafka.
"""
