"""The six measurements of issue 7, each beside a baseline measured in the same run."""
