"""API tokens: bearer credentials for /api/v1, created and revoked from the CLI, stored only as hashes."""
