"""stapel: a service project's whole local infrastructure in one file, brought up by one command."""

__version__ = "0.1.0"
