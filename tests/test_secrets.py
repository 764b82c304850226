"""Credential detection: real credentials fire, references and look-alikes do not."""

from __future__ import annotations

import pytest

from kubeharden.checks.secrets import entropy, judge

from conftest import messages, scan


@pytest.mark.parametrize("name,value", [
    ("DB_PASSWORD", "hunter2hunter2"),
    ("API_TOKEN", "3f9a8c1e5b7d2f4a6c8e0b1d3f5a7c9e"),
    ("anything", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow..."),
    ("ID", "AKIAIOSFODNN7EXAMPLE"),
    ("GH", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("SLACK", "xoxb-123456789012-abcdefghijkl"),
    ("DATABASE_URL", "postgres://app:s3cretpw@db:5432/app"),
    ("JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("client_secret", "aB3dE5fG7hI9jK1lM3nO5pQ7"),
    ("MAPS_KEY", "Zx81kPq0LmN2vB7cR4tY6uW9"),
    ("SESSION_COOKIE_SALT", "f81d4fae7dec11d0a76500a0c91e6bf6"),
])
def test_credentials_are_detected(name, value):
    assert judge(name, value)


@pytest.mark.parametrize("name,value", [
    ("DB_PASSWORD_FILE", "/var/run/secrets/db/password"),
    ("TOKEN_URL", "https://auth.example.com/token"),
    ("PASSWORD", "$(DB_PASSWORD)"),
    ("PASSWORD", "changeme"),
    ("SECRET_NAME", "app-credentials"),
    ("TOKEN_TTL", "3600"),
    ("AUTH_ENABLED", "true"),
    ("KEY_ID", "primary"),
    ("LOG_LEVEL", "debug"),
    ("DATABASE_URL", "postgres://db:5432/app"),
    ("PASSWORD", ""),
    ("GOOGLE_API_KEY", "GOOGLE_API_KEY_VAL"),
    ("MAPS_KEY", "development"),
    ("CACHE_KEY_PREFIX", "shop-cache-v1-2024"),
    ("IMAGE_HASH", "sha256 of the build"),
])
def test_look_alikes_are_not_flagged(name, value):
    assert judge(name, value) is None


def test_entropy_separates_random_from_words():
    assert entropy("3f9a8c1e5b7d2f4a6c8e0b1d3f5a7c9e") > 3.5 > entropy("aaaaaaaaaaaaaaaa")


def test_env_value_flagged_but_secret_key_ref_is_not():
    findings, _ = scan("""
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: app
      image: x
      env:
        - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}
        - {name: API_KEY, value: "9b1f0c3e7a2d4b6f8e0a1c3e5b7d9f1a"}
""", only=["KH-SEC-001", "KH-SEC-004"])
    assert messages(findings, "KH-SEC-001") == [
        "env API_KEY: name 'API_KEY' suggests a credential and it has a literal random-looking value (32 chars)"]
    assert len(messages(findings, "KH-SEC-004")) == 1
    assert [f.line for f in findings if f.control.id == "KH-SEC-001"] == [11]


def test_configmap_embedded_file_line_is_found():
    findings, _ = scan("""
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data:
  app.properties: |
    server.port=8080
    db.password=hunter2hunter2
  plain: value
""", only=["KH-SEC-002"])
    (f,) = findings
    assert f.line == 8 and "db.password" in f.message


def test_annotations_but_not_last_applied_or_secrets():
    findings, _ = scan("""
apiVersion: v1
kind: Service
metadata:
  name: s
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"env":[{"name":"PASSWORD","value":"hunter2hunter2"}]}'
    example.com/webhook-token: "glpat-abcdefghijklmnopqrst"
---
apiVersion: v1
kind: Secret
metadata:
  name: t
  annotations:
    example.com/token: "glpat-abcdefghijklmnopqrst"
""", only=["KH-SEC-003"])
    assert [(f.resource.name, "webhook-token" in f.message) for f in findings] == [("s", True)]


def test_value_kind_is_the_leftmost_match_of_any_pattern():
    """value_kind searches pattern by pattern; it must answer as one alternation of all patterns."""
    import random
    import re

    from kubeharden.checks.secrets import VALUE_PATTERNS, value_kind

    combined = re.compile("|".join(f"(?P<p{i}>{p.pattern})" for i, (_, p) in enumerate(VALUE_PATTERNS)))

    def expected(value):
        match = combined.search(value)
        return None if match is None else VALUE_PATTERNS[int(str(match.lastgroup)[1:])][0]

    pieces = ["AKIA", "ASIA", "ghp_", "github_pat_", "glpat-", "xoxb-", "AIza", "sk_live_", "rk_live_", "sk-",
              "sk-proj-", "eyJ", ".", "://", "http", "a+b", ":", "@", "/", " ", "\n", "-", "_", "x", "Z9",
              "-----BEGIN RSA PRIVATE KEY-----", "0123456789ABCDEF", "abcdefghijklmnopqrstuvwxyz0123456789",
              "https://u:", "git+ssh://a.b:", "p4ss@h", "://a:bcd@", "AIza" + "Ab_-" * 9]
    rng = random.Random(2)
    for _ in range(20_000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        assert value_kind(value) == expected(value), value
    assert value_kind("see https://user:hunter2@db.example.com and AKIA" + "A" * 16) == "credentials in a URL"
    assert value_kind("xAKIA" + "A" * 16) is None and value_kind("-AKIA" + "A" * 16) == "an AWS access key ID"
