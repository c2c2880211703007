"""The least-privilege ACLs a worker needs, per delivery mode: one table for the docs
(docs/OPERATIONS.md, "Secured clusters"), the tests that grant exactly these, and the
``kafka-acls.sh`` commands that create them.

Kafka implies DESCRIBE from READ and WRITE, and (since 3.0, KIP-679) IDEMPOTENT_WRITE on the
cluster from WRITE on any topic, so neither needs its own ACL. DESCRIBE_CONFIGS on the
dead-letter topic is optional: without it the worker assumes Kafka's default
``max.message.bytes`` and says so in one warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.kafka.settings import KafkaSettings


@dataclass(frozen=True)
class WorkerAcl:
    """ALLOW ``operation`` on ``resource`` ``name`` (``pattern`` LITERAL or PREFIXED)."""

    resource: str  # topic | group | transactional_id
    name: str
    operation: str  # READ | WRITE | DESCRIBE_CONFIGS
    pattern: str = "LITERAL"
    required: bool = True
    why: str = ""

    def command(self, principal: str, bootstrap: str = "BROKER:9093", config: str = "admin.properties") -> str:
        """The ``kafka-acls.sh`` line that grants it."""
        flag = {"topic": "--topic", "group": "--group", "transactional_id": "--transactional-id"}[self.resource]
        pattern = " --resource-pattern-type prefixed" if self.pattern == "PREFIXED" else ""
        operation = "".join(word.title() for word in self.operation.split("_"))  # DESCRIBE_CONFIGS: DescribeConfigs
        return (f"kafka-acls.sh --bootstrap-server {bootstrap} --command-config {config} --add "
                f"--allow-principal {principal} --operation {operation} {flag} {self.name}{pattern}")


def transactional_prefix(settings: KafkaSettings) -> str:
    """What every worker's ``transactional.id`` starts with (``KafkaSettings.producer_config``)."""
    return settings.transactional_id or f"ner-stage-{settings.group}"


def worker_acls(settings: KafkaSettings, *, optional: bool = True) -> list[WorkerAcl]:
    """Every ACL ``settings``' worker needs (``optional``: also the ones it can do without)."""
    acls = [WorkerAcl("topic", t, "READ", why="consume the input (implies DESCRIBE)") for t in settings.input]
    acls.append(WorkerAcl("group", settings.group, "READ", why="join the group, commit offsets (implies DESCRIBE)"))
    for topic in (settings.entities_topic, settings.redacted_topic, settings.dlq_topic):
        if topic:
            acls.append(WorkerAcl("topic", topic, "WRITE", why="produce outputs (implies DESCRIBE, IDEMPOTENT_WRITE)"))
    if settings.exactly_once:
        acls.append(WorkerAcl("transactional_id", transactional_prefix(settings), "WRITE", pattern="PREFIXED",
                              why="one transactional id per worker process (implies DESCRIBE)"))
    if optional and settings.dlq_topic:
        acls.append(WorkerAcl("topic", settings.dlq_topic, "DESCRIBE_CONFIGS", required=False,
                              why="read the dead-letter topic's max.message.bytes"))
    return acls


def binding(acl: WorkerAcl, principal: str):
    """``acl`` as confluent-kafka's ``AclBinding`` (for ``AdminClient.create_acls``/``delete_acls``)."""
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    return AclBinding(ResourceType[acl.resource.upper()], acl.name, ResourcePatternType[acl.pattern], principal,
                      "*", AclOperation[acl.operation], AclPermissionType.ALLOW)


def grant(admin_config: dict, acls: list[WorkerAcl], principal: str, *, revoke: bool = False,
          timeout_s: float = 30.0) -> None:
    """Create (or with ``revoke``, delete) ``acls`` for ``principal`` with an admin's client settings."""
    from confluent_kafka.admin import AclBindingFilter, AdminClient

    if not acls:
        return
    admin = AdminClient(admin_config)
    bindings = [binding(acl, principal) for acl in acls]
    if revoke:
        filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
                                    b.permission_type) for b in bindings]
        futures = admin.delete_acls(filters, request_timeout=timeout_s)
    else:
        futures = admin.create_acls(bindings, request_timeout=timeout_s)
    for future in futures.values():
        future.result(timeout_s)
