"""rolloutd's smi traffic router."""
