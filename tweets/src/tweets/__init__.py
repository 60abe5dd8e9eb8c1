"""The tweets service: tweets, replies, likes and reposts, their events and the author counters."""
