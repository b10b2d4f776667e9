"""Built-in schedule generators: pure functions from (p, m, options) to a Schedule."""
