"""A sample third-party rolloutd traffic router for Gateway API HTTPRoutes."""
