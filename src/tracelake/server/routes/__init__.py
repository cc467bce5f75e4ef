"""The HTTP routes of the server, one module per resource; each exposes `router`."""
