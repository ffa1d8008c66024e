"""The workspace: a server-rendered web application over the same store and settings as the CLI."""
