"""rolloutd's istio traffic router."""
