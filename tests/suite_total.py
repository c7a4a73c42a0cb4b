"""Prints one closing line over the JUnit XML files of several pytest processes (`make test`
runs two) and exits 0: `make test: 570 passed, 0 failed, 1 skipped` (errors count as failed).
Run: `python tests/suite_total.py RESULTS/*.xml`."""

import sys
import xml.etree.ElementTree as ET


def totals(paths: list[str]) -> tuple[int, int, int]:
    passed = failed = skipped = 0
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError):
            failed += 1  # a pytest process that wrote no results did not pass
            continue
        for suite in root.iter("testsuite"):
            tests, skip = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            passed += tests - skip - bad
            failed += bad
            skipped += skip
    return passed, failed, skipped


if __name__ == "__main__":
    passed, failed, skipped = totals(sys.argv[1:])
    print(f"make test: {passed} passed, {failed} failed, {skipped} skipped")
