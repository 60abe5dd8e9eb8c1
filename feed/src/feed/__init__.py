"""The feed service: a user's home timeline, read from Redis and hydrated through tweets gRPC."""
