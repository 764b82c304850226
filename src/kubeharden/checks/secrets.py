"""Credentials in plain sight (NSA-NET-27): env values, ConfigMaps and annotations.

Two signals, combined to keep false alarms down:

* the *value* looks like a credential by itself (a private key, a cloud key, a token
  with a known prefix, a JWT, credentials in a URL); these fire whatever the key name;
* the *key name* says it holds a secret (password, token, api_key …) and the value is
  not a reference, a path, a URL without credentials, a boolean or a placeholder.
  Random-looking values (Shannon entropy) raise confidence in the message.

References to Secrets (``valueFrom.secretKeyRef``, ``envFrom.secretRef``) are never a
plain-text credential; exposing Secrets as environment variables is KH-SEC-004.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from kubeharden.checks.context import Context
from kubeharden.checks.registry import check
from kubeharden.model.controls import Violation
from kubeharden.model.fieldpath import join
from kubeharden.model.objects import K8sObject, as_dict, as_list
from kubeharden.model.pods import ContainerView

VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")),
    ("an AWS access key ID", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}\b|\bgithub_pat_[A-Za-z0-9_]{40,}")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("a Stripe secret key", re.compile(r"\b[sr]k_live_[0-9A-Za-z]{20,}")),
    ("an OpenAI-style API key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_\-]{32,}")),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
    ("credentials in a URL", re.compile(r"\b[a-z][a-z0-9+.\-]*://[^/\s:@$]{1,64}:[^/\s@$]{3,}@[^/\s]+")),
)

SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[_\-.]?key|apikey|access[_\-.]?key|private[_\-.]?key|"
    r"client[_\-.]?secret|credential|auth[_\-.]?key|signing[_\-.]?key|encryption[_\-.]?key|"
    r"session[_\-.]?key|bearer|connection[_\-.]?string|dsn)",
    re.IGNORECASE,
)
# Names that *mention* a secret but hold something else (where to find it, how long it lives…).
NOT_SECRET_NAME = re.compile(
    r"(_|\.|-|^)(file|path|dir|url|uri|endpoint|host|port|name|ref|key_?id|id|ttl|expir\w*|timeout|length|"
    r"size|enabled?|mode|type|policy|header|issuer|audience|algorithm|version|count|format|location|"
    r"namespace|secret_?name|mount|prefix|suffix|label|tag|region|zone|bucket|table|topic|queue|index|field|"
    r"column|provider|store|backend)$",
    re.IGNORECASE,
)
# Names that only *may* hold a secret (MAPS_KEY, LICENSE_KEY, COOKIE_SALT): flagged when the value is random.
KEYLIKE_NAME = re.compile(r"(key|cred|auth|sig|salt|hash|cookie|cert)", re.IGNORECASE)
# Either: a name with neither can only be judged by its value (most names: HOST, LOG_LEVEL, JAVA_OPTS).
_HINTING_NAME = re.compile(f"{SECRET_NAME.pattern}|{KEYLIKE_NAME.pattern}", re.IGNORECASE)
PLACEHOLDER = re.compile(
    r"^(\$\(.+\)|\$\{.+\}|\{\{.*\}\}|<.*>|%.+%|\*+|x+|changeme|change_me|replace_?me|your[_\-].*|example|"
    r"dummy|placeholder|none|null|nil|n/a|todo|redacted|secret|password)$",
    re.IGNORECASE,
)


def entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


#: The literal fragments of each pattern above, in the same order: every match of the pattern contains one
#: of them, so a value with none of a pattern's cannot match it.
_PATTERN_MARKERS: tuple[tuple[str, ...], ...] = (
    ("-----BEGIN",), ("AKIA", "ASIA", "ABIA", "ACCA"), ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ("glpat-",), ("xox",), ("AIza",), ("k_live_",), ("sk-",), ("eyJ",), ("://",),
)
#: Any pattern's literal fragments, found in one pass over the value (a ConfigMap's value may be a whole
#: dashboard): a value with none of them matches no pattern.
_ANY_MARKER = re.compile("|".join(re.escape(marker) for markers in _PATTERN_MARKERS for marker in markers))
#: Each pattern without its leading word boundaries: a match of the pattern starts where this one
#: matches, and Python's regular expressions find a literal start far faster than a ``\b``.
_CANDIDATES = tuple(re.compile(re.sub(r"(^|\|)\\b", r"\1", p.pattern)) for _, p in VALUE_PATTERNS)
#: The characters of a URL scheme (RFC 3986), before "://".
_SCHEME = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")


def value_kind(value: str) -> str | None:
    """What credential the value itself looks like, or None.

    The leftmost match of any pattern wins, the first pattern on a tie (as one alternation of
    them all would answer). ConfigMaps carry megabytes of dashboards, so each pattern looks
    only where its literal part is, and only when the value has that part at all (a script with a URL is
    not searched for cloud keys).
    """
    if _ANY_MARKER.search(value) is None:  # most values
        return None
    found: tuple[int, int] | None = None
    for index, markers in enumerate(_PATTERN_MARKERS):
        if not any(map(value.__contains__, markers)):
            continue
        start = _first_match(index, value)
        if start is not None and (found is None or start < found[0]):
            found = (start, index)
    return VALUE_PATTERNS[found[1]][0] if found is not None else None


def _first_match(index: int, value: str) -> int | None:
    """Where ``VALUE_PATTERNS[index]`` first matches ``value``, or None."""
    pattern = VALUE_PATTERNS[index][1]
    if index == len(VALUE_PATTERNS) - 1:  # credentials in a URL: the scheme ends at "://"
        colon = value.find("://")
        while colon != -1:
            begin = colon
            while begin > 0 and value[begin - 1] in _SCHEME:
                begin -= 1
            for start in range(begin, colon):
                if pattern.match(value, start):
                    return start
            colon = value.find("://", colon + 1)
        return None
    candidates = _CANDIDATES[index]
    position = 0
    while (candidate := candidates.search(value, position)) is not None:
        if pattern.match(value, candidate.start()):
            return candidate.start()
        position = candidate.start() + 1
    return None


#: Values that hold no credential (:func:`_inert`): a constant's name to substitute (GOOGLE_API_KEY_VAL);
#: numbers, durations, versions, ports; a URL (when it carries no password).
_CONSTANT_NAME = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+")
_NUMERIC = re.compile(r"[\d.:,\-+]+[a-zA-Z]{0,3}")
_URL = re.compile(r"^[a-z][a-z0-9+.\-]*://")


def _inert(value: str) -> bool:
    v = value.strip()
    if not v or PLACEHOLDER.match(v):
        return True
    if v.lower() in ("true", "false", "yes", "no", "on", "off"):
        return True
    if _CONSTANT_NAME.fullmatch(v):  # GOOGLE_API_KEY_VAL: a placeholder to substitute
        return True
    if _NUMERIC.fullmatch(v):  # numbers, durations, versions, ports
        return True
    if v.startswith(("/", "./", "file:", "vault:", "arn:", "ref+", "projects/")):
        return True
    if _URL.match(v) and not VALUE_PATTERNS[-1][1].search(v):
        return True
    return False


def judge(name: str, value: Any) -> str | None:
    """A description of why ``name: value`` is a plain-text credential, or None."""
    if not isinstance(value, str) or not value:
        return None
    kind = value_kind(value)
    if kind:
        return f"value looks like {kind}"
    if not _HINTING_NAME.search(name):  # neither test of the name below could hold
        return None
    if NOT_SECRET_NAME.search(name) or _inert(value):
        return None
    one_word = len(value) >= 16 and " " not in value.strip()  # random-looking when its entropy is high too
    if SECRET_NAME.search(name):
        strength = "random-looking value" if one_word and entropy(value) >= 3.5 else "value"
        return f"name {name!r} suggests a credential and it has a literal {strength} ({len(value)} chars)"
    if one_word and KEYLIKE_NAME.search(name) and entropy(value) >= 3.5:
        return (f"name {name!r} may hold a key and its value is random-looking "
                f"({len(value)} chars, entropy {entropy(value):.1f} bits/char)")
    return None


@check("KH-SEC-001")
def env_credentials(c: ContainerView, ctx: Context) -> Iterator[Violation]:
    for i, env in enumerate(as_list(c.raw.get("env"))):
        if not isinstance(env, dict) or "value" not in env:
            continue
        name = str(env.get("name", ""))
        why = judge(name, env.get("value"))
        if why:
            yield Violation(f"env {name}: {why}", c.line(env, "value"), path=join(c.path, "env", i, "value"))


_CONFIG_LINE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*[:=]\s*[\"']?([^\"'#\s]+)")


@check("KH-SEC-002")
def configmap_credentials(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    data = as_dict(obj.raw.get("data"))
    for key, value in data.items():
        if not isinstance(value, str):
            continue
        why = judge(str(key), value)
        if why:
            yield Violation(f"data.{key}: {why}", obj.line(data, key), path=join("data", str(key)))
            continue
        if "\n" in value:  # an embedded config file: look at its key=value / key: value lines
            for offset, text in enumerate(value.splitlines()):
                m = _CONFIG_LINE.match(text)
                if m and (why := judge(m.group(1), m.group(2))):
                    base = obj.line(data, key)
                    yield Violation(f"data.{key}, line {offset + 1} ({m.group(1)}): {why}",
                                    base + offset + 1 if base else None, path=join("data", str(key)))
                    break


#: Annotations written by tools that duplicate the object (checked through the object itself).
_SKIP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


@check("KH-SEC-003")
def annotation_credentials(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind == "Secret":
        return
    meta = obj.metadata
    annotations = as_dict(meta.get("annotations"))
    for key, value in annotations.items():
        if key in _SKIP_ANNOTATIONS or not isinstance(value, str):
            continue
        short = str(key).rsplit("/", 1)[-1]
        why = judge(short, value)
        if why:
            yield Violation(f"annotation {key}: {why}", obj.line(annotations, key),
                            path=join("metadata", "annotations", str(key)))


