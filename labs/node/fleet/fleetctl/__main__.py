"""`python3 -m labs.node.fleet.fleetctl` is /usr/bin/fleetctl on the machines."""

import sys

from .cli import main

sys.exit(main())
