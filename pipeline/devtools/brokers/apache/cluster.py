"""A local Apache Kafka (KRaft, combined broker+controller nodes) run with the machine's Java.

What the distribution's scripts do, without the scripts: ``kafka-storage.sh format`` is
``kafka.tools.StorageTool format -t <cluster id> -c server.properties`` and
``kafka-server-start.sh`` is ``kafka.Kafka server.properties``, both run from the jar directory
that :mod:`pipeline.devtools.brokers.apache.artifacts` resolved.

Every node is a broker *and* a KRaft controller, so a cluster of 3 keeps its quorum (and its
data, with replication factor 3) when one node dies: the failover tests kill one with
:meth:`ApacheCluster.kill_node` and bring it back with :meth:`ApacheCluster.start_node`.

Start-up is tuned for small CI machines (2 cores), where a JVM's warm-up dominates:
serial GC, C1 only (``TieredStopAtLevel=1``: a broker that lives for a test session never
needs C2), class-data sharing, a 512 MiB heap cap (three nodes fit in 2 GiB), few threads, and
single-node replication for the internal topics (or transactions never start). Logs go to one
file per node, never to our stdout.
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from pipeline.devtools.brokers.admin import LocalBrokerError, admin_client, create_topics, delete_topics
from pipeline.devtools.brokers.apache.artifacts import java_executable, resolve_classpath
from pipeline.devtools.brokers.apache.security import Security, SecurityMaterial
from pipeline.devtools.maven import Progress
from pipeline.devtools.processes import die_with_parent, free_port, terminate_process

log = structlog.get_logger(__name__)

JVM_FLAGS = ("-Xms64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
             "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true", "-Dlog4j2.disable.jmx=true")

_LOG4J = """\
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = WARN
"""


def _server_properties(node: ApacheNode, voters: str, brokers: int, data_dir: Path,
                       security: SecurityMaterial | None = None) -> str:
    replicas = min(brokers, 3)
    listener = security.listener if security else "PLAINTEXT"
    settings = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": voters,
        "listeners": f"{listener}://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"{listener}://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": data_dir / f"node-{node.node_id}",
        # a development cluster: few partitions, internal topics replicated as far as the cluster allows
        "num.partitions": 1,
        "default.replication.factor": replicas,
        "min.insync.replicas": min(brokers, 2),
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": 4,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min(brokers, 2),
        "transaction.state.log.num.partitions": 4,
        "group.initial.rebalance.delay.ms": 0,
        "group.min.session.timeout.ms": 1000,
        # a dead node is fenced (its partitions led elsewhere) after 3 s instead of 9 s
        "broker.heartbeat.interval.ms": 500,
        "broker.session.timeout.ms": 3000,
        # small machines: fewer threads, a small compaction buffer (the default takes 128 MiB of heap)
        "num.network.threads": 2,
        "num.io.threads": 4,
        "background.threads": 4,
        "num.recovery.threads.per.data.dir": 1,
        "log.cleaner.dedupe.buffer.size": 8 * 1024 * 1024,
        "auto.create.topics.enable": "true",
        **(security.server_properties() if security else {}),
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


@dataclass
class ApacheNode:
    """One KRaft node (broker and controller) and its JVM, when running."""

    node_id: int
    port: int
    controller_port: int
    config: Path
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class ApacheCluster:
    """A running local Apache Kafka of one or more nodes; a context manager, or call :meth:`stop`."""

    nodes: list[ApacheNode]
    classpath: Path
    java: str
    heap_mb: int
    data_dir: Path
    log_dir: Path
    _owned_dirs: list[tempfile.TemporaryDirectory] = field(default_factory=list, repr=False)
    kind: str = "apache"
    transactions: bool = True  # read_committed consumers skip aborted transactions
    security: SecurityMaterial | None = None  # None: plaintext, no authorizer

    def client_config(self, **extra) -> dict:
        """A librdkafka dict for the super user (``bootstrap.servers`` and, when secured, its credentials)."""
        return {"bootstrap.servers": self.bootstrap, **(self.security.client_config() if self.security else {}),
                **extra}

    def _admin_extra(self, **extra) -> dict:
        return {**(self.security.client_config() if self.security else {}), **extra}

    @property
    def bootstrap(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def running(self) -> bool:
        return all(node.running for node in self.nodes)

    def java_command(self, main_class: str, *args: str, heap_mb: int = 256) -> list[str]:
        """``java`` running ``main_class`` from the Kafka jars (the tools: console consumer, groups).

        The tool's own log lines go to ``<log_dir>/tools.log``; its stdout is the tool's output."""
        log4j = self.log_dir / "tools.log4j2.properties"
        if not log4j.is_file():
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log4j.write_text(_LOG4J.format(path=self.log_dir / "tools.log"))
        return [self.java, f"-Xmx{heap_mb}m", *JVM_FLAGS, f"-Dlog4j2.configurationFile={log4j}",
                "-cp", f"{self.classpath}/*", main_class, *args]

    def start_node(self, index: int, timeout_s: float = 60.0) -> None:
        """(Re)start node ``index`` (0-based) and wait until the cluster lists it again."""
        self.launch_node(index)
        self.wait_for_brokers({self.nodes[index].node_id}, timeout_s)

    def launch_node(self, index: int) -> None:
        """Start node ``index``'s JVM without waiting for it (a no-op if it runs)."""
        node = self.nodes[index]
        if node.running:
            return
        node.log_path.parent.mkdir(parents=True, exist_ok=True)
        log4j = node.config.with_suffix(".log4j2.properties")
        log4j.write_text(_LOG4J.format(path=node.log_path))
        with node.log_path.with_suffix(".out").open("ab") as out:
            node.process = subprocess.Popen(
                [self.java, f"-Xmx{self.heap_mb}m", *JVM_FLAGS, f"-Dlog4j2.configurationFile={log4j}",
                 "-cp", f"{self.classpath}/*", "kafka.Kafka", str(node.config)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def wait_for_brokers(self, node_ids: Iterable[int], timeout_s: float = 60.0) -> None:
        """Return once every node in ``node_ids`` answers and is listed in the cluster metadata."""
        from confluent_kafka import KafkaException

        wanted = set(node_ids)
        by_id = {node.node_id: node for node in self.nodes}
        deadline = time.monotonic() + timeout_s
        clients = {}
        while True:
            for node_id in wanted:
                node = by_id[node_id]
                if node.process is not None and node.process.poll() is not None:
                    raise LocalBrokerError(f"Apache Kafka node {node_id} exited with code {node.process.returncode} "
                                           f"while starting; log {node.log_path}:\n{self.log_tail(node_id)}")
            try:
                listed = set()
                for node_id in wanted:  # ask each node itself: it is up when it sees all of `wanted`
                    client = clients.setdefault(node_id, admin_client(
                        by_id[node_id].address,
                        self._admin_extra(**{"socket.connection.setup.timeout.ms": 1000, "log_level": 0})))
                    brokers = set(client.list_topics(timeout=1.0).brokers)
                    listed.add(wanted <= brokers)
                if listed == {True}:
                    return
            except KafkaException:
                pass
            if time.monotonic() > deadline:
                raise LocalBrokerError(f"Apache Kafka nodes {sorted(wanted)} not ready within {timeout_s:.0f}s; "
                                       f"log {by_id[min(wanted)].log_path}:\n{self.log_tail(min(wanted))}")
            time.sleep(0.1)

    def kill_node(self, index: int) -> None:
        """SIGKILL node ``index``: a crash, no controlled shutdown."""
        node = self.nodes[index]
        if node.process is not None and node.process.poll() is None:
            node.process.kill()
            node.process.wait(30)

    def stop_node(self, index: int, timeout_s: float = 30.0) -> int | None:
        """SIGTERM node ``index`` (controlled shutdown), SIGKILL after ``timeout_s``; returns its exit code."""
        node = self.nodes[index]
        if node.process is None:
            return None
        return terminate_process(node.process, timeout_s, "apache_kafka.kill", node=node.node_id)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every node (all SIGTERMed at once, so none waits for a controller already gone). Idempotent."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for index in range(len(self.nodes)):
            self.stop_node(index, timeout_s)
        for owned in self._owned_dirs:
            owned.cleanup()
        self._owned_dirs.clear()

    def create_topics(self, names: Iterable[str], partitions: int = 1, timeout_s: float = 30.0,
                      replication_factor: int = 1, config: dict[str, str] | None = None) -> None:
        create_topics(self.bootstrap, names, partitions, timeout_s, config=config,
                      replication_factor=replication_factor, client=self._admin_extra())

    def delete_topics(self, names: Iterable[str], timeout_s: float = 30.0) -> None:
        delete_topics(self.bootstrap, names, timeout_s, client=self._admin_extra())

    def log_tail(self, node_id: int | None = None, lines: int = 20) -> str:
        node = next((n for n in self.nodes if n.node_id == node_id), self.nodes[0])
        tails = []
        for path in (node.log_path.with_suffix(".out"), node.log_path):
            with contextlib.suppress(OSError):
                tails.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(tails[-lines:])

    def __enter__(self) -> ApacheCluster:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (Kafka's ``Uuid``)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _format(cluster: ApacheCluster, timeout_s: float) -> None:
    """Run ``StorageTool format`` for every node not formatted yet (all at once: each is a JVM start)."""
    cluster_id = _cluster_id()
    running = []
    for node in cluster.nodes:
        if (cluster.data_dir / f"node-{node.node_id}" / "meta.properties").is_file():
            continue  # a data directory kept from an earlier run: reuse it
        running.append((node, subprocess.Popen(
            cluster.java_command("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(node.config),
                                 *(cluster.security.format_args() if cluster.security else [])),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    for node, process in running:
        try:
            output, _ = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            raise LocalBrokerError(f"formatting Apache Kafka storage for node {node.node_id} took over "
                                   f"{timeout_s:.0f}s") from exc
        if process.returncode != 0:
            if cluster.security is not None:  # never echo the --add-scram password
                output = output.replace(cluster.security.admin_password, "***")
            raise LocalBrokerError(f"kafka.tools.StorageTool format failed for node {node.node_id}:\n{output[-2000:]}")


def start_apache(*, brokers: int = 1, port: int = 0, data_dir: str | Path | None = None,
                 log_dir: str | Path | None = None, cache_dir: Path | None = None, heap_mb: int = 512,
                 startup_timeout_s: float = 120.0, progress: Progress | None = None,
                 attempts: int = 3, security: Security = "plaintext") -> ApacheCluster:
    """Start ``brokers`` Apache Kafka nodes on 127.0.0.1 and return once all of them answer.

    ``port`` 0 picks free ports; otherwise node ``i`` listens on ``port + i``. Data lives in
    ``data_dir`` (kept, and reused on the next start) or in a temporary directory removed on
    stop. ``security`` ``sasl_ssl`` or ``mtls`` secures the client listener (:mod:`.security`;
    :meth:`ApacheCluster.client_config` has the super user's settings). Raises
    :class:`~pipeline.devtools.brokers.apache.artifacts.ApacheKafkaUnavailableError` when
    Java, Maven or the artifacts are missing, :class:`LocalBrokerError` when the broker fails.
    """
    if brokers < 1:
        raise LocalBrokerError(f"--brokers must be at least 1, not {brokers}")
    java = java_executable()
    classpath = resolve_classpath(cache_dir, progress=progress)
    last: LocalBrokerError | None = None
    for _ in range(max(1, attempts if port == 0 else 1)):  # free ports can be taken between pick and bind
        owned: list[tempfile.TemporaryDirectory] = []
        if data_dir is None:
            owned.append(tempfile.TemporaryDirectory(prefix="ner-stage-kafka-data-"))
        data = Path(data_dir) if data_dir is not None else Path(owned[-1].name)
        logs = Path(log_dir) if log_dir is not None else data / "logs"
        try:
            data.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LocalBrokerError(f"cannot use {data} as the Apache Kafka data directory: "
                                   f"{exc.strerror or type(exc).__name__}") from exc
        formatted = any((data / f"node-{i + 1}" / "meta.properties").is_file() for i in range(brokers))
        if security == "sasl_ssl" and formatted and not (data / "security").is_dir():
            # the super user's SCRAM credential is written at format time only
            raise LocalBrokerError(f"{data} was formatted without --security sasl_ssl; use a new --data-dir")
        material = SecurityMaterial.prepare(security, data) if security != "plaintext" else None
        nodes = [ApacheNode(i + 1, port + i if port else free_port(), free_port(), data / f"node-{i + 1}.properties",
                            logs / f"apache-node-{i + 1}.log") for i in range(brokers)]
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
        for node in nodes:
            node.config.write_text(_server_properties(node, voters, brokers, data, material))
            if material is not None:  # it holds the inter-broker password
                node.config.chmod(0o600)
        cluster = ApacheCluster(nodes, classpath, java, heap_mb, data, logs, owned, security=material)
        started = time.monotonic()
        try:
            if progress:
                progress(f"starting Apache Kafka ({brokers} node{'s' if brokers > 1 else ''}) in {data}")
            _format(cluster, startup_timeout_s)
            for index in range(brokers):  # no wait between starts: nodes need each other for a quorum
                cluster.launch_node(index)
            cluster.wait_for_brokers([n.node_id for n in nodes], startup_timeout_s)
        except LocalBrokerError as exc:
            cluster.stop()
            last = exc
            continue
        log.info("apache_kafka.started", bootstrap=cluster.bootstrap, nodes=brokers, security=security,
                 seconds=round(time.monotonic() - started, 1), logs=str(logs))
        return cluster
    assert last is not None
    raise last
