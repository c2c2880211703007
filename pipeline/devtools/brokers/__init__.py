"""Development Kafka brokers: Apache Kafka (``apache/``), the single-binary Tansu and noida-db
(``embedded``) and the admin calls every one of them answers (``admin``)."""
