from kubeharden.cli import run

run()
