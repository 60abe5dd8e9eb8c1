"""HTTP transport: problem+json errors, the app factory, auth dependencies, readiness."""
