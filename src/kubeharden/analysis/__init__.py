"""Whole-cluster analyses behind some controls and commands (RBAC model and escalation paths,
NetworkPolicy reachability), apart from the controls themselves."""
