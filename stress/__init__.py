"""Long-running proof suites (races, kills, load): each module runs with ``python -m stress.<name>``."""
