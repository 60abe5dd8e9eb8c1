"""Generated protobuf and gRPC code of the fleet. Regenerate with `make proto`; never edit by hand."""
