"""The one evaluation path: the evaluator (controls over a stream of objects, suppressions and
exceptions, the per-scan context) and parallel scans in worker processes."""
