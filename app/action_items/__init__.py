"""Action items: follow-up work from an incident, owned, prioritised and due, kept until done."""
