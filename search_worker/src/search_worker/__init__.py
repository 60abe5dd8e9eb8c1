"""The search worker: keeps the search index in step with tweet events, and rebuilds it on demand."""
