"""Postmortems: every version of an incident's write-up, generated or edited by people, and its review status."""
