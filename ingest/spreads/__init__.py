"""The spread half: the live monitor, loading its lake into PostgreSQL, and the spread report."""
