"""Helpers the tests share: input builders, tools, worker processes, the live harness."""
