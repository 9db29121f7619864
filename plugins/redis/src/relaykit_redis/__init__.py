"""relaykit-redis."""
