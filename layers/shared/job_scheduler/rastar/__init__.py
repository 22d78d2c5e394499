"""The Rastar food service: its API (``protocol``), a client, and users' linked accounts."""
