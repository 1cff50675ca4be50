"""The command line: one module per command group; parses, calls the engine, renders. No logic here."""
