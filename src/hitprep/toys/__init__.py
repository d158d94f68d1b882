"""Small detector simulators that write files in each real format (demos, tests, benchmarks)."""
