"""Apache Kafka itself as the local broker: jars from Maven Central, run with the machine's Java.

- :mod:`.artifacts` resolves ``org.apache.kafka:kafka_2.13`` and ``kafka-tools`` (``pom.xml``
  here) into a cache directory on first use;
- :mod:`.cluster` formats KRaft storage and runs one or more combined broker+controller nodes.

Errors::

    KafkaStageError (pipeline.kafka.errors)
    ├── ApacheKafkaUnavailableError   Apache Kafka cannot run on this machine
    │   ├── JavaNotFoundError         no java 17+ on PATH
    │   ├── MavenNotFoundError        no mvn on PATH and the jars are not cached
    │   └── ArtifactResolveError      Maven could not fetch the jars
    └── LocalBrokerError (pipeline.devtools.brokers.admin)   the broker did not start or answer
"""

from pipeline.devtools.brokers.apache.artifacts import (
    KAFKA_VERSION,
    ApacheKafkaUnavailableError,
    ArtifactResolveError,
    JavaNotFoundError,
    MavenNotFoundError,
    apache_available,
    resolve_classpath,
)
from pipeline.devtools.brokers.apache.cluster import ApacheCluster, ApacheNode, start_apache

__all__ = [
    "KAFKA_VERSION",
    "ApacheCluster",
    "ApacheKafkaUnavailableError",
    "ApacheNode",
    "ArtifactResolveError",
    "JavaNotFoundError",
    "MavenNotFoundError",
    "apache_available",
    "resolve_classpath",
    "start_apache",
]
