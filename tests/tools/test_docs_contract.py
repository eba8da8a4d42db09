#!/usr/bin/env python3
"""The documents operators rely on name everything the code offers them: every
configuration key the daemon reads has its row in docs/configuration.md, under
its section, and every metric it exports has its row in docs/operations.md.
A key or metric added without its documentation fails here, naming it.

Usage: test_docs_contract.py SOURCE_DIR
"""
import pathlib
import re
import sys

SECTIONS = ('xmpp', 'registration', 'storage', 'wns', 'metrics', 'log')


def sources(root):
    """The production C++ sources: not tests, not build trees."""
    for path in root.rglob('*.cpp'):
        relative = path.relative_to(root).parts
        if relative[0] == 'tests' or relative[0].startswith('build'):
            continue
        yield path


def documented_keys(text):
    """{section: {key}} from the tables under each "## `[section]`" heading."""
    keys, section = {}, None
    for line in text.splitlines():
        heading = re.match(r'^## `\[([a-z]+)\]`', line)
        if heading:
            section = heading.group(1)
            keys.setdefault(section, set())
        elif line.startswith('## '):
            section = None
        elif section:
            row = re.match(r'^\| `([a-z_]+)` \|', line)
            if row:
                keys[section].add(row.group(1))
    return keys


def main():
    root = pathlib.Path(sys.argv[1])
    code = '\n'.join(path.read_text(encoding='utf-8') for path in sources(root))
    read = set(re.findall(r'"(%s)/([a-z_]+)"' % '|'.join(SECTIONS), code))
    # Metric names are spelled once, in ServerMetrics (daemon/servermetrics.h).
    metrics = '\n'.join(path.read_text(encoding='utf-8') for path in sources(root)
                         if path.name == 'servermetrics.cpp')
    exported = set(re.findall(r'"(uwpx_[a-z_]+)"', metrics))
    if not read or not exported:
        print('FAIL: found no configuration keys or metrics in the sources')
        return 1

    problems = []
    documented = documented_keys((root / 'docs/configuration.md').read_text(encoding='utf-8'))
    for section, key in sorted(read):
        if key not in documented.get(section, set()):
            problems.append('docs/configuration.md: [%s] %s is read by the daemon but has no '
                            'row under its section' % (section, key))
    operations = (root / 'docs/operations.md').read_text(encoding='utf-8')
    for metric in sorted(exported):
        if not re.search(r'^\| `%s` \|' % re.escape(metric), operations, re.MULTILINE):
            problems.append('docs/operations.md: metric %s is exported but has no row in '
                            '"Metrics"' % metric)
    for problem in problems:
        print(problem)
    print('%d keys, %d metrics checked' % (len(read), len(exported)))
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
