"""Wire contracts: Avro schemas for Kafka records, pydantic models for HTTP bodies, codecs."""
