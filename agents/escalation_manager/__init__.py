"""The escalation-manager: who was paged and told, who acknowledged, what is next (see `status`)."""
