"""``kubeharden fix``: turn the structured fixes of findings into edits of the files they came from.

Layer: beside ``engine`` and ``report`` (docs/architecture.md). It reads findings (``model``), never
runs a scan itself (``commands/fix.py`` does), and edits YAML with ruamel.yaml's round-trip mode so
comments, key order, quoting and unrelated formatting stay (docs/fix.md).
"""
