"""kubeharden: the NSA/CISA Kubernetes Hardening Guidance (v1.2), executable."""

__version__ = "0.1.0"
