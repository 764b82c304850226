"""Command-line commands, one module each (see kubeharden.cli.COMMANDS)."""
