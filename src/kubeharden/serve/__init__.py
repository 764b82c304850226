"""The HTTPS server every kubeharden endpoint runs on (``webhook serve``, ``audit serve``): aiohttp
under TLS, a connection cap, probes and Prometheus metrics. It knows nothing of what it serves."""
