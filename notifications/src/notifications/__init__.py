"""The notifications area: notifications (REST, gRPC, the database) and the live stream."""
