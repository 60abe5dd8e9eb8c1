"""Fault-injection tests: the real fleet with its dependencies cut and restored (a package, so that
the fleet fixture lives exactly as long as these tests)."""
