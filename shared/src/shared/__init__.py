"""Common code of the fleet: settings, auth, db, messaging, outbox, gRPC, telemetry and errors."""
