"""rolloutd's nginx traffic router."""
