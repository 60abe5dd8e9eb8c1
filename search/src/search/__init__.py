"""The search service: full-text search over tweets, behind one backend interface."""
