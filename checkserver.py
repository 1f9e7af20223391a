"""CRest's ``checkserver.php``, in Python: ``python checkserver.py [--url URL] [--json]``.

The same as ``crest checkserver``; see :mod:`crest.checks` for what it checks.
"""

from crest.cli_checkserver import checkserver_command

if __name__ == "__main__":
    checkserver_command()
