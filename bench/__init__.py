"""The fleet's benchmark (`make bench`, `python -m bench [--quick]`): see bench/README.md."""
