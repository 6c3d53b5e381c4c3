"""python -m hub: the hub command."""

from hub._cli import main

main()
