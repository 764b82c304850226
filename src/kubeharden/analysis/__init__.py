"""Analyses that answer questions across objects (network reachability, …), apart from controls."""
