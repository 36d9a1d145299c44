"""Settings package: `base` reads the environment, `test` overrides it for the test suite."""
