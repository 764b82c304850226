"""Enforcement: the admission webhook's reviews (``webhook serve``) and its deployment manifests."""
