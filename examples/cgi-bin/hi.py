#!/usr/bin/env python3
"""A minimal CGI script (serve with --cgi-paths /cgi-bin)."""

import sys

sys.stdout.write("Content-Type: text/plain\r\n\r\nHi from hi.py\n")
