"""rolloutd's ambassador traffic router."""
