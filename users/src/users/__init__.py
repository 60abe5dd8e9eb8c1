"""The users service: accounts, login, profiles, counters and the follow graph."""
