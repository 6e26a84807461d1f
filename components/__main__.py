"""The plugin's entry point: the Python language host runs this folder (``python
components <engine address> ...``), which puts it first on ``sys.path``."""

import sys

from table_exporter.provider import serve

if __name__ == "__main__":
    serve(sys.argv[1:])
