"""Exit codes, documented in docs/exit-codes.md. A CI gate only needs to know these."""

OK = 0
#: A finding at or above ``--fail-on`` (not suppressed).
FINDINGS = 1
#: Bad command line or configuration file.
USAGE = 2
#: Some input could not be read or parsed (the rest was scanned); no finding reached ``--fail-on``.
INPUT_ERRORS = 3
