#!/usr/bin/env python3
"""Put a generated table into README.md between `<!-- NAME:begin -->` and `<!-- NAME:end -->`.

    scripts/readme_table.py NAME TABLE
"""
import re, sys

name, table = sys.argv[1], sys.argv[2]
readme = open("README.md").read()
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
if begin not in readme or end not in readme:
    sys.exit(f"README.md has no {begin} … {end} markers")
body = begin + "\n" + table.strip() + "\n" + end
readme = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: body, readme, flags=re.S)
open("README.md", "w").write(readme)
