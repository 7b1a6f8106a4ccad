"""The course's exercises, one module per topic: importing this package registers them all.

Each module defines its exercises with `labs.checks.exercise` (check, solution, reset).
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
