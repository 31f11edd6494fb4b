"""The runbooks incidentbot ships: YAML files beside this module (installed with the package)."""
