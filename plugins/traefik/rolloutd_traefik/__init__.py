"""rolloutd's traefik traffic router."""
