"""Whole-cluster analyses behind some controls and commands (RBAC model and escalation paths)."""
