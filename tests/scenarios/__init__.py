"""Incident scenarios for the RCA tests: the data (one folder each), its loader and the servers that serve it."""
