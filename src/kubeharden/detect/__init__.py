"""Threat detection over Kubernetes audit events: the rule language, the engine and the rule pack."""
