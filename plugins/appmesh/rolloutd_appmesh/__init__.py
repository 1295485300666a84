"""rolloutd's appmesh traffic router."""
