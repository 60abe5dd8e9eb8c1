"""Dev-only tooling: the `make run` supervisor and the test helpers. No service image installs it."""
