"""rolloutd's openshift traffic router."""
