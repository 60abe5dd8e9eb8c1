"""The notification worker: tweet and user events become notifications, pushed to the live stream."""
