"""One module per command; `paperroute.cli` wires them into argparse."""
