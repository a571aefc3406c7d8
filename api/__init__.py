"""The HTTP API: a thin layer over the store and the enrollment activity."""
