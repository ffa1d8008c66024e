"""Platform plugins defined by tests. Every module here is imported by tests/test_platform_plugins.py and
registers itself: the contract suite then runs over it with no other file touched."""
