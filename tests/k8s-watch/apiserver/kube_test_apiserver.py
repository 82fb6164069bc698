#!/usr/bin/python3
"""Kubernetes API server for Portico's tests: real HTTP/1.1 + TLS wire protocol, discovery,
resourceVersion semantics, paginated lists, chunked watch streams, fault injection.
See README.md next to this file. Python 3 standard library only."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ktapi.app import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
