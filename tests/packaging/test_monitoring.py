#!/usr/bin/python3
"""The monitoring pack (resources/monitoring/) against the daemon it watches.

An alert on a metric the daemon does not export never fires, and a dashboard
panel on one stays empty: nobody notices until the day it matters. So this
starts the real daemon, reads the metric families its /metrics declares, and
checks that every uwpx_* name the alert rules and the Grafana dashboard use is
one of them; and promtool (Debian's prometheus package) must accept the rules.

Usage: test_monitoring.py DAEMON_BINARY SOURCE_DIR
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

binary, source = sys.argv[1], sys.argv[2]
monitoring = os.path.join(source, 'resources', 'monitoring')
rules = os.path.join(monitoring, 'uwpx-push-server.rules.yml')
dashboard = os.path.join(monitoring, 'grafana-dashboard.json')
failures = []


def check(what, ok, detail=''):
    print(('ok: ' if ok else 'FAILED: ') + what + ('' if ok else ' ' + detail))
    if not ok:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# 1. promtool accepts the rules.
promtool = subprocess.run(['promtool', 'check', 'rules', rules], capture_output=True, text=True)
check('promtool check rules', promtool.returncode == 0, promtool.stdout + promtool.stderr)

# 2. What the daemon exports: every family /metrics declares (# TYPE), also
#    those with no series yet; a histogram's series add _bucket, _sum, _count.
with tempfile.TemporaryDirectory() as work:
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
                    '-keyout', f'{work}/key.pem', '-out', f'{work}/cert.pem'],
                   check=True, capture_output=True)
    metrics_port = free_port()
    with open(os.path.join(source, 'resources', 'uwpx-push-server.ini')) as f:
        example = f.read()
    config = example
    for key, value in [('secret', 'monitoring-test'), ('client_secret', 'monitoring-test'),
                       ('package_sid', 'ms-app://s-1-15-2-9'), ('certificate', f'{work}/cert.pem'),
                       ('private_key', f'{work}/key.pem'), ('path', f'{work}/push.db'),
                       ('port', '9')]:
        config = re.sub(rf'(?m)^{key} = .*$', f'{key} = {value}', config, count=1)
    config = re.sub(r'(?m)^listen = 0\.0\.0\.0:1997$', 'listen = 127.0.0.1:0', config)
    config = re.sub(r'(?m)^listen =$', f'listen = {metrics_port}', config)
    with open(f'{work}/test.ini', 'w') as f:
        f.write(config)
    log = open(f'{work}/daemon.log', 'w+')
    daemon = subprocess.Popen([binary, '--config', f'{work}/test.ini'], stderr=log)
    text = ''
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and daemon.poll() is None:
            try:
                with urllib.request.urlopen(f'http://127.0.0.1:{metrics_port}/metrics', timeout=5) as r:
                    text = r.read().decode()
                break
            except OSError:
                time.sleep(0.1)  # the endpoint is not up yet; nothing to wait on but the port
    finally:
        daemon.terminate()
        daemon.wait(30)
        log.seek(0)
        daemon_log = log.read()
    check('the daemon serves /metrics', bool(text), daemon_log)

exported = set()
for name, kind in re.findall(r'(?m)^# TYPE (\S+) (\S+)$', text):
    exported.add(name)
    if kind == 'histogram':
        exported.update({name + '_bucket', name + '_sum', name + '_count'})

# 3. Every uwpx_* name the rules and the dashboard use is exported.
with open(rules) as f:
    rule_text = f.read()
expressions = re.findall(r'(?ms)^\s+expr: (\|\n.*?|.*?)$(?=\n\s+(?:for|labels):)', rule_text)
check('the rules have expressions', len(expressions) >= 6, str(expressions))
with open(dashboard) as f:
    board = json.load(f)


def dashboard_expressions(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ('expr', 'query', 'definition') and isinstance(value, str):
                yield value
            else:
                yield from dashboard_expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from dashboard_expressions(item)


for where, texts in [('alert rules', expressions), ('dashboard', list(dashboard_expressions(board)))]:
    used = set()
    for expression in texts:
        used.update(re.findall(r'\buwpx_[a-z0-9_]+\b', expression))
    check(f'the {where} use our metrics', len(used) >= 5, str(sorted(used)))
    unknown = sorted(used - exported)
    check(f'every metric the {where} use is exported', not unknown,
          f'{unknown} not among {sorted(exported)}')

# The alerts the operator guide promises.
for alert in ['UwpxComponentLinkDown', 'UwpxPublishErrors', 'UwpxWnsForbidden', 'UwpxWnsUnauthorized',
              'UwpxWnsServerErrors', 'UwpxStorageDown', 'UwpxCertificateExpiresSoon']:
    check(f'alert {alert}', f'alert: {alert}\n' in rule_text)

if failures:
    print(f'{len(failures)} check(s) failed')
    sys.exit(1)
print('all monitoring checks passed')
