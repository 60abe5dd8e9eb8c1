"""The feed worker: fans tweets out to followers' Redis feeds and keeps feeds in step with follows."""
