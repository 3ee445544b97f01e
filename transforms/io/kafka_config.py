"""Kafka client settings: Java-style ``--kafka-config KEY=VALUE`` flags to kafka-python kwargs.

Users copy settings from their cluster's Java client config (``security.protocol=SASL_SSL``,
``sasl.mechanism=SCRAM-SHA-512``, ...), so the CLI takes those names and this module turns them
into the keyword arguments kafka-python expects: dots become underscores, a few names are renamed,
and settings kafka-python cannot honour (JAAS, Java keystores) fail with a hint, never silently.
Values are read by the type of kafka-python's default (numbers, booleans, a version tuple);
text settings, the security ones among them, pass through unchanged.

Secrets never travel as values. A value may be a reference resolved only when a client is built,
on the worker, the way Kafka's config providers work: ``${env:NAME}`` (an environment variable)
or ``${file:PATH:KEY}`` (a key of a Java properties file). ``--kafka-config-file FILE`` reads
settings from such a file; its secret settings become references to it. A literal password on
the command line is refused (it would show in ``ps``, in shell history and in the pipeline
options a runner UI displays).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

KAFKA_CLIENTS: tuple[type, ...] = (KafkaConsumer, KafkaProducer, KafkaAdminClient)

# Java or librdkafka names whose kafka-python spelling is not the dots-to-underscores form.
_RENAMES = {
    "ssl.key.password": "ssl_password",
    "ssl.endpoint.identification.algorithm": "ssl_check_hostname",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "sasl.mechanisms": "sasl_mechanism",
    "ssl.ca.location": "ssl_cafile",
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
}

_UNSUPPORTED = {
    "sasl.jaas.config": (
        "kafka-python has no JAAS; give sasl.mechanism with sasl.plain.username and "
        "sasl.plain.password (PLAIN, SCRAM-*) or sasl.kerberos.service.name (GSSAPI)"
    ),
    "sasl.login.callback.handler.class": "kafka-python cannot load Java classes",
    "ssl.truststore.location": "kafka-python reads PEM files; export the CA and give ssl.cafile",
    "ssl.truststore.password": "kafka-python reads PEM files; export the CA and give ssl.cafile",
    "ssl.truststore.type": "kafka-python reads PEM files; export the CA and give ssl.cafile",
    "ssl.keystore.location": (
        "kafka-python reads PEM files; give ssl.certfile, ssl.keyfile and ssl.password"
    ),
    "ssl.keystore.password": (
        "kafka-python reads PEM files; give ssl.certfile, ssl.keyfile and ssl.password"
    ),
    "ssl.keystore.type": (
        "kafka-python reads PEM files; give ssl.certfile, ssl.keyfile and ssl.password"
    ),
}

# Settings the newsflow IO sets itself; letting a flag change them would break offset handling or
# the bytes-in, bytes-out contract of the source and sink.
_OWNED = {
    "bootstrap_servers": "use --bootstrap-servers",
    "group_id": "use --consumer-group",
    "enable_auto_commit": "newsflow commits offsets itself, after the outputs are written",
    "acks": "offsets are committed only for writes acknowledged by all in-sync replicas",
    "key_deserializer": "newsflow reads raw bytes",
    "value_deserializer": "newsflow reads raw bytes",
    "key_serializer": "newsflow writes raw bytes",
    "value_serializer": "newsflow writes raw bytes",
    "transactional_id": "newsflow's writes are idempotent, not transactional",
    "group_instance_id": "newsflow's readers join no group, and its job lease needs live members",
}

# kafka-python settings that take Python objects, not text.
_OBJECT_VALUED = frozenset(
    {
        "kafka_client",
        "selector",
        "socket_options",
        "ssl_context",
        "sasl_oauth_token_provider",
        "metric_reporters",
        "partitioner",
        "partition_assignment_strategy",
        "default_offset_commit_callback",
    }
)

# Every setting of any client with its default, whose type tells how to read a text value; values
# of the text-typed settings (security ones among them) pass through unchanged.
_DEFAULTS: dict[str, Any] = {
    key: default for client in KAFKA_CLIENTS for key, default in client.DEFAULT_CONFIG.items()
}
_NUMERIC_WITHOUT_DEFAULT = frozenset({"receive_buffer_bytes", "send_buffer_bytes"})
# Defaults of every client newsflow builds (a --kafka-config setting wins). A new client's first
# connection (TCP, TLS, SASL) may take seconds on a loaded machine; one that fails within this
# time is retried by broker_retry's loop, which is where an outage or a rejected login is seen.
# Consumers read committed: records of a transaction its producer aborted (a transactional
# upstream's failed write, which it writes again) are never articles; on a topic without
# transactions it changes nothing.
CLIENT_DEFAULTS = {"bootstrap_timeout_ms": 10000, "isolation_level": "read_committed"}

# kafka-python settings that hold secrets: only ever given as a reference.
SECRET_SETTINGS = frozenset({"sasl_plain_password", "ssl_password"})
_REFERENCE = re.compile(r"\$\{(env|file):([^}]*)\}")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_VERSION = re.compile(r"\d+(\.\d+){1,2}")
_TRUE = frozenset({"true", "yes", "on"})
_FALSE = frozenset({"false", "no", "off"})


def parse_kafka_option(s: str) -> tuple[str, str]:
    """Split one ``--kafka-config KEY=VALUE`` flag; the value may itself contain ``=``."""
    key, sep, value = s.partition("=")
    key = key.strip()
    if not sep or not _KEY.fullmatch(key):
        raise ValueError(
            f"--kafka-config expects KEY=VALUE (e.g. security.protocol=SSL), got {s!r}"
        )
    return key, value


@dataclass(frozen=True)
class Reference:
    """A setting whose value is looked up when a client is built: ``${env:..}``/``${file:..}``.
    Its repr never shows the value, so a config dict can be logged or pickled safely."""

    java_key: str
    text: str

    def resolve(self) -> str:
        return _REFERENCE.sub(lambda m: _lookup(self.java_key, m[1], m[2]), self.text)


def _lookup(java_key: str, provider: str, where: str) -> str:
    if provider == "env":
        if where not in os.environ:
            raise ValueError(f"Kafka setting {java_key!r}: environment variable {where} is not set")
        return os.environ[where]
    path, sep, key = where.rpartition(":")
    if not sep:
        raise ValueError(f"Kafka setting {java_key!r}: expected ${{file:PATH:KEY}}")
    try:
        properties = read_properties(path)
    except ValueError as exc:
        raise ValueError(f"Kafka setting {java_key!r}: {exc}") from None
    if key not in properties:
        raise ValueError(f"Kafka setting {java_key!r}: {path} has no key {key!r}")
    return properties[key]


def read_properties(path: str) -> dict[str, str]:
    """A Java properties file: ``key=value`` (or ``key: value``) lines, ``#``/``!`` comments,
    backslash line continuations. Errors name the file, never a value."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = re.sub(r"\\\n[ \t]*", "", fh.read())
    except OSError as exc:
        raise ValueError(f"cannot read Kafka settings file {path}: {exc.strerror}") from None
    properties = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if match is None:
            raise ValueError(f"{path}:{number}: expected key=value")
        properties[match[1]] = match[2]
    return properties


def kafka_settings(flags: list[str], config_file: str | None) -> dict[str, str]:
    """Java-style settings from ``--kafka-config-file`` (secrets as references to it) and the
    ``--kafka-config`` flags, which win. A literal secret in a flag is refused."""
    settings: dict[str, str] = {}
    if config_file:
        path = os.path.abspath(config_file)
        for key, value in read_properties(path).items():
            secret = _python_key(key) in SECRET_SETTINGS
            settings[key] = f"${{file:{path}:{key}}}" if secret else value
    for flag in flags:
        key, value = parse_kafka_option(flag)
        if _python_key(key) in SECRET_SETTINGS and not _REFERENCE.search(value):
            raise ValueError(
                f"Kafka setting {key!r} is a secret: give it as ${{env:NAME}} or "
                "${file:PATH:KEY}, or in --kafka-config-file, never on the command line"
            )
        settings[key] = value
    return settings


def client_config(bootstrap_servers: str, overrides: Mapping[str, str]) -> dict[str, Any]:
    """kafka-python kwargs for the given brokers and Java-style overrides.

    The result holds every setting for any client; pass it through ``for_client`` before building
    one, since kafka-python rejects settings of other client kinds. Raises ``ValueError`` naming
    the offending key for unsupported, unknown, or newsflow-owned settings. A value holding a
    reference stays a ``Reference`` until ``for_client`` resolves it.
    """
    if not bootstrap_servers.strip():
        raise ValueError("bootstrap servers must not be empty (e.g. localhost:9092)")
    config: dict[str, Any] = {"bootstrap_servers": bootstrap_servers.strip()}
    for java_key, value in overrides.items():
        key = _python_key(java_key)
        if _REFERENCE.search(value):
            config[key] = Reference(java_key, value)
        else:
            config[key] = _python_value(key, java_key, value)
    return config


def for_client(config: Mapping[str, Any], client: type) -> dict[str, Any]:
    """The part of ``config`` that ``client`` (e.g. ``KafkaConsumer``) accepts, over
    ``CLIENT_DEFAULTS``, references resolved (call it where the client is built: on the worker).

    One set of ``--kafka-config`` flags serves consumers, producers and the admin client alike, so
    a producer-only setting such as ``linger_ms`` is left out of a consumer's kwargs, not an error.
    """
    return {
        key: _python_value(key, value.java_key, value.resolve())
        if isinstance(value, Reference)
        else value
        for key, value in {**CLIENT_DEFAULTS, **config}.items()
        if key in client.DEFAULT_CONFIG
    }


def _python_key(java_key: str) -> str:
    if java_key in _UNSUPPORTED:
        raise ValueError(f"Kafka setting {java_key!r} is not supported: {_UNSUPPORTED[java_key]}")
    key = _RENAMES.get(java_key, java_key.replace(".", "_").replace("-", "_"))
    if key in _OWNED:
        raise ValueError(f"Kafka setting {java_key!r} cannot be overridden: {_OWNED[key]}")
    if key in _OBJECT_VALUED:
        raise ValueError(f"Kafka setting {java_key!r} takes a Python object, not text")
    if key not in _DEFAULTS:
        raise ValueError(
            f"unknown Kafka setting {java_key!r} (kafka-python has no {key!r}); "
            "see the KafkaConsumer/KafkaProducer docs for supported settings"
        )
    return key


def _python_value(key: str, java_key: str, value: str) -> Any:
    if java_key == "ssl.endpoint.identification.algorithm":
        # Java disables hostname checks with an empty algorithm and enables them with "https".
        return value.strip().lower() not in ("", "none")
    if key == "compression_type" and value.strip().lower() == "none":
        return None  # Java's spelling of kafka-python's None: no compression
    default = _DEFAULTS.get(key)
    if isinstance(default, bool):
        return _boolean(java_key, value)
    if key == "api_version":
        if not _VERSION.fullmatch(value.strip()):
            raise ValueError(
                f"Kafka setting {java_key!r} expects a version like 3.9, got {value!r}"
            )
        return tuple(int(part) for part in value.strip().split("."))
    if isinstance(default, int | float) or key in _NUMERIC_WITHOUT_DEFAULT:
        return _number(java_key, value)
    return value


def _number(java_key: str, value: str) -> int | float:
    try:
        return int(value.strip())
    except ValueError:
        pass
    try:
        return float(value.strip())
    except ValueError:
        raise ValueError(f"Kafka setting {java_key!r} expects a number, got {value!r}") from None


def _boolean(java_key: str, value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"Kafka setting {java_key!r} expects true or false, got {value!r}")
