"""What agents produced for an incident (an RCA, later a postmortem), kept so it can be re-read and cited."""
