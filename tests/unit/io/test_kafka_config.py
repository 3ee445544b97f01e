"""Java-style Kafka settings become kafka-python kwargs, or fail naming the offending setting."""

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from transforms.io.kafka_config import (
    CLIENT_DEFAULTS,
    client_config,
    for_client,
    kafka_settings,
    parse_kafka_option,
    read_properties,
)

BOOTSTRAP = "localhost:9092"


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("security.protocol=SASL_SSL", ("security.protocol", "SASL_SSL")),
        (" sasl.mechanism=PLAIN", ("sasl.mechanism", "PLAIN")),
        ("sasl.plain.password=a=b==", ("sasl.plain.password", "a=b==")),
        ("ssl.endpoint.identification.algorithm=", ("ssl.endpoint.identification.algorithm", "")),
        ("client.id=newsflow-1", ("client.id", "newsflow-1")),
    ],
)
def test_parse_kafka_option_splits_on_the_first_equals(flag, expected):
    assert parse_kafka_option(flag) == expected


@pytest.mark.parametrize("flag", ["security.protocol", "=SSL", "", "two words=x", "-x=1"])
def test_parse_kafka_option_rejects_malformed_flags_quoting_them(flag):
    with pytest.raises(ValueError, match="KEY=VALUE") as excinfo:
        parse_kafka_option(flag)
    assert repr(flag) in str(excinfo.value)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, {}),
        (
            {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.plain.username": "reader",
                "sasl.plain.password": " 0123 ",
                "ssl.cafile": "/etc/ca.pem",
            },
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": "reader",
                "sasl_plain_password": " 0123 ",
                "ssl_cafile": "/etc/ca.pem",
            },
        ),
        ({"ssl.key.password": "1234"}, {"ssl_password": "1234"}),
        ({"ssl.endpoint.identification.algorithm": ""}, {"ssl_check_hostname": False}),
        ({"ssl.endpoint.identification.algorithm": "https"}, {"ssl_check_hostname": True}),
        ({"ssl.check.hostname": "FALSE"}, {"ssl_check_hostname": False}),
        (
            {"sasl.username": "u", "sasl.password": "p"},
            {"sasl_plain_username": "u", "sasl_plain_password": "p"},
        ),
        ({"ssl.ca.location": "/ca.pem"}, {"ssl_cafile": "/ca.pem"}),
        ({"request.timeout.ms": "30000"}, {"request_timeout_ms": 30000}),
        (
            {"linger.ms": "5", "compression.type": "gzip"},
            {"linger_ms": 5, "compression_type": "gzip"},
        ),
        ({"send.buffer.bytes": "131072"}, {"send_buffer_bytes": 131072}),
        ({"client.id": "12"}, {"client_id": "12"}),
        ({"isolation.level": "read_committed"}, {"isolation_level": "read_committed"}),
        ({"check.crcs": "true"}, {"check_crcs": True}),
        ({"api.version": "3.9"}, {"api_version": (3, 9)}),
        ({"api.version": "2.8.1"}, {"api_version": (2, 8, 1)}),
    ],
)
def test_client_config_maps_java_names_to_kafka_python(overrides, expected):
    assert client_config(BOOTSTRAP, overrides) == {"bootstrap_servers": BOOTSTRAP, **expected}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sasl.jaas.config": "org.apache...PlainLoginModule required;"}, "sasl.plain.username"),
        ({"ssl.truststore.location": "/ts.jks"}, "ssl.cafile"),
        ({"ssl.keystore.location": "/ks.jks"}, "ssl.certfile"),
        ({"bootstrap.servers": "other:9092"}, "--bootstrap-servers"),
        ({"group.id": "g"}, "--consumer-group"),
        ({"enable.auto.commit": "true"}, "commits offsets itself"),
        ({"acks": "1"}, "all in-sync replicas"),
        ({"value.deserializer": "x"}, "raw bytes"),
        ({"ssl.context": "x"}, "Python object"),
        ({"no.such.setting": "1"}, "unknown Kafka setting 'no.such.setting'"),
        ({"request.timeout.ms": "soon"}, "expects a number"),
        ({"check.crcs": "maybe"}, "expects true or false"),
        ({"api.version": "latest"}, "expects a version"),
    ],
)
def test_client_config_rejects_what_kafka_python_cannot_honour(overrides, message):
    with pytest.raises(ValueError, match="Kafka setting") as excinfo:
        client_config(BOOTSTRAP, overrides)
    assert message in str(excinfo.value)
    assert next(iter(overrides)) in str(excinfo.value)


def test_client_config_keeps_secrets_out_of_errors():
    with pytest.raises(ValueError) as excinfo:
        client_config(BOOTSTRAP, {"sasl.jaas.config": "password=hunter2"})
    assert "hunter2" not in str(excinfo.value)


@pytest.mark.parametrize("bootstrap", ["", "  "])
def test_client_config_requires_bootstrap_servers(bootstrap):
    with pytest.raises(ValueError, match="bootstrap servers"):
        client_config(bootstrap, {})


def test_client_config_strips_bootstrap_servers():
    assert client_config(" a:9092,b:9092 ", {}) == {"bootstrap_servers": "a:9092,b:9092"}


@pytest.mark.parametrize(
    ("client", "kept"),
    [
        (KafkaConsumer, {"bootstrap_servers", "security_protocol", "isolation_level"}),
        (KafkaProducer, {"bootstrap_servers", "security_protocol", "linger_ms"}),
        (KafkaAdminClient, {"bootstrap_servers", "security_protocol"}),
    ],
)
def test_for_client_keeps_only_the_settings_a_client_accepts(client, kept):
    config = client_config(
        BOOTSTRAP,
        {"security.protocol": "SSL", "linger.ms": "5", "isolation.level": "read_committed"},
    )
    assert set(for_client(config, client)) == kept | (
        set(CLIENT_DEFAULTS) & set(client.DEFAULT_CONFIG)
    )


def test_consumers_read_committed_unless_told_otherwise():
    """Records of an aborted transaction are not articles (before, they were enriched)."""
    assert for_client(client_config(BOOTSTRAP, {}), KafkaConsumer)["isolation_level"] == (
        "read_committed"
    )
    told = client_config(BOOTSTRAP, {"isolation.level": "read_uncommitted"})
    assert for_client(told, KafkaConsumer)["isolation_level"] == "read_uncommitted"


def test_client_defaults_yield_to_a_setting_given():
    config = client_config(BOOTSTRAP, {"bootstrap.timeout.ms": "60000"})
    assert for_client(config, KafkaConsumer)["bootstrap_timeout_ms"] == 60000
    assert (
        for_client(client_config(BOOTSTRAP, {}), KafkaConsumer)["bootstrap_timeout_ms"]
        == (CLIENT_DEFAULTS["bootstrap_timeout_ms"])
    )


def test_references_are_resolved_only_when_a_client_is_built(monkeypatch, tmp_path):
    secrets = tmp_path / "client.properties"
    secrets.write_text("# SCRAM\nsasl.plain.password = s3cret=x\nssl.key.password: k\\\n  ey\n")
    config = client_config(
        BOOTSTRAP,
        {
            "sasl.plain.password": "${env:NEWSFLOW_TEST_PW}",
            "ssl.key.password": f"${{file:{secrets}:ssl.key.password}}",
            "request.timeout.ms": "${env:NEWSFLOW_TEST_TIMEOUT}",
        },
    )
    assert "hunter2" not in repr(config), "nothing resolved yet, nothing to leak"
    monkeypatch.setenv("NEWSFLOW_TEST_PW", "hunter2")
    monkeypatch.setenv("NEWSFLOW_TEST_TIMEOUT", "4000")
    resolved = for_client(config, KafkaConsumer)
    assert resolved["sasl_plain_password"] == "hunter2"
    assert resolved["ssl_password"] == "key"
    assert resolved["request_timeout_ms"] == 4000, "typed after resolution"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${env:NEWSFLOW_TEST_UNSET}", "environment variable NEWSFLOW_TEST_UNSET is not set"),
        ("${file:/nonexistent/newsflow.properties:x}", "cannot read Kafka settings file"),
        ("${file:nocolon}", "expected ${file:PATH:KEY}"),
    ],
)
def test_an_unresolvable_reference_fails_naming_the_setting(value, message):
    config = client_config(BOOTSTRAP, {"sasl.plain.password": value})
    with pytest.raises(ValueError, match=r"Kafka setting 'sasl\.plain\.password'") as info:
        for_client(config, KafkaConsumer)
    assert message in str(info.value)


def test_a_settings_file_keeps_its_secrets_as_references(tmp_path):
    path = tmp_path / "client.properties"
    path.write_text("security.protocol=SASL_SSL\nsasl.plain.password=hunter2\n")
    settings = kafka_settings(["security.protocol=SSL"], str(path))
    assert settings == {
        "security.protocol": "SSL",
        "sasl.plain.password": f"${{file:{path}:sasl.plain.password}}",
    }, "flags win; the password stays in the file"
    assert (
        for_client(client_config(BOOTSTRAP, settings), KafkaConsumer)["sasl_plain_password"]
        == "hunter2"
    )


@pytest.mark.parametrize("flag", ["sasl.plain.password=hunter2", "ssl.key.password=hunter2"])
def test_a_literal_secret_on_the_command_line_is_refused_without_echoing_it(flag):
    with pytest.raises(ValueError, match="is a secret") as info:
        kafka_settings([flag], None)
    assert "hunter2" not in str(info.value)


def test_a_malformed_settings_file_names_the_line(tmp_path):
    path = tmp_path / "bad.properties"
    path.write_text("security.protocol=SSL\n=orphan\n")
    with pytest.raises(ValueError, match=r"bad.properties:2: expected key=value"):
        read_properties(str(path))
