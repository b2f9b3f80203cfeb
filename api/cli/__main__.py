"""``python -m api.cli`` is the ``floorledger`` command."""

from api.cli import main

main()
