"""rolloutd's apisix traffic router."""
