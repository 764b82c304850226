"""Builders of the artefacts the guide asks for (policies, quotas); the commands only write them."""
