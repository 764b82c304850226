"""Plain YAML scalars resolved as kubectl and the API server resolve them.

kubectl (and Helm, Argo CD, Flux) turn YAML into JSON with ``sigs.k8s.io/yaml``, which
decodes with its fork of go-yaml v2: YAML 1.1 rules, not PyYAML's. What the cluster
sees is what counts, so every *plain* (unquoted) scalar is resolved here exactly as
go-yaml v2's ``resolve()`` does (``resolve.go``), and mapping keys are turned into
strings as ``sigs.k8s.io/yaml`` does (``yaml.go``, ``convertToJSONableObject``).

==========================  ====================  =======================================
plain scalar                kubectl / API server  PyYAML's own safe loader
==========================  ====================  =======================================
``y Y yes Yes YES``         true                  ``y``/``Y``: the string
``on On ON true True TRUE`` true                  true
``n N no No NO``            false                 ``n``/``N``: the string
``off Off OFF false …``     false                 false
``~ null Null NULL`` empty  null                  null
``0644`` ``0o644``          420 (octal)           420; ``0o644``: the string
``0x1F`` ``0b101``          31, 5                 31, 5
``1_000``                   1000                  1000
``1:20``                    the string            80 (sexagesimal)
``1e3`` ``1_000.5``         1000.0, 1000.5        ``1e3``: the string
``08`` ``09``               8.0, 9.0 (float)      the string
``.5`` ``.inf`` ``.nan``    0.5, inf, nan         0.5, inf, nan
``2024-01-02``              the string            a date (kept as a string here too)
``=``                       the string            YAML 1.1's ``value`` tag
==========================  ====================  =======================================

Quoted scalars are always strings. Integers beyond int64 fall back to uint64, then to
a float, as ``strconv`` does; a float literal that overflows stays a string.
"""

from __future__ import annotations

import math
import re
from typing import Any

STR = "tag:yaml.org,2002:str"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
NULL = "tag:yaml.org,2002:null"
MERGE = "tag:yaml.org,2002:merge"

#: go-yaml v2 ``resolveMapList``: spellings looked up before any parsing.
_MAP: dict[str, tuple[str, Any]] = {}
for _tag, _value, _spellings in (
    (BOOL, True, ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")),
    (BOOL, False, ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")),
    (NULL, None, ("", "~", "null", "Null", "NULL")),
    (FLOAT, math.nan, (".nan", ".NaN", ".NAN")),
    (FLOAT, math.inf, (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")),
    (FLOAT, -math.inf, ("-.inf", "-.Inf", "-.INF")),
    (MERGE, "<<", ("<<",)),
):
    for _s in _spellings:
        _MAP[_s] = (_tag, _value)

#: go-yaml v2 ``yamlStyleFloat``.
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
#: What Go's strconv.ParseFloat accepts for a scalar starting with "." (no underscores, no prefix).
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
_DIGITS = {2: "01", 8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT64 = (1 << 64) - 1


def _parse_go_int(text: str, signed: bool) -> int | None:
    """Go's ``strconv.ParseInt(text, 0, 64)`` (or ParseUint): None when it would fail."""
    sign = 1
    body = text
    if body[:1] in "+-":
        if not signed:
            return None
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    base = 10
    prefix = body[:2].lower()
    if prefix in ("0x", "0b", "0o"):
        base = {"0x": 16, "0b": 2, "0o": 8}[prefix]
        body = body[2:]
    elif len(body) > 1 and body[0] == "0":
        base = 8
        body = body[1:]
    if not body or any(ch not in _DIGITS[base] for ch in body):
        return None
    value = sign * int(body, base)
    if signed:
        return value if _INT64[0] <= value <= _INT64[1] else None
    return value if value <= _UINT64 else None


def resolve_plain(text: str) -> tuple[str, Any]:
    """The tag and value go-yaml v2 gives the plain scalar ``text``.

    Returns ``(tag, value)`` with ``tag`` one of the YAML core tags above.
    """
    found = _MAP.get(text)
    if found is not None:
        return found
    first = text[0]
    if first == ".":
        if _DOT_FLOAT.fullmatch(text):
            return FLOAT, float(text)
        return STR, text
    if first in "+-0123456789":
        plain = text.replace("_", "")
        if plain:
            value = _parse_go_int(plain, signed=True)
            if value is None:
                value = _parse_go_int(plain, signed=False)
            if value is not None:
                return INT, value
            if _YAML_FLOAT.fullmatch(plain):
                number = float(plain)
                if not math.isinf(number):  # strconv reports a range error: go-yaml keeps the string
                    return FLOAT, number
    return STR, text


def json_key(key: Any) -> Any:
    """A mapping key as ``sigs.k8s.io/yaml`` writes it into JSON: always a string.

    Raises ValueError for keys JSON cannot hold (null, lists, mappings), as kubectl does.
    """
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        if math.isnan(key):
            return ".nan"
        if math.isinf(key):
            return ".inf" if key > 0 else "-.inf"
        if key.is_integer() and abs(key) < 1e21:
            return str(int(key))
        return repr(key)
    raise ValueError(f"unsupported mapping key {key!r}: JSON keys are strings")
