"""gRPC transport: the server context, the channel factory, and the error mapping interceptors."""
