"""rolloutd's alb traffic router."""
