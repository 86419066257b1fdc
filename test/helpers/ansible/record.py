# A callback plugin for the tests (test/integration/ansible.test.ts): every task result, one JSON line
# each (host, task, status, the result), appended to $LU_ANSIBLE_RECORD. ansible-core has no JSON
# callback of its own (ansible.posix's is not installed).
from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
name: record
type: aggregate
short_description: every task result as a JSON line in $LU_ANSIBLE_RECORD
description: For liveupdate's tests.
requirements: [enable in configuration]
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'record'
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, status, result):
        with open(os.environ['LU_ANSIBLE_RECORD'], 'a') as f:
            f.write(json.dumps(dict(host=result._host.get_name(), task=result._task.get_name(), status=status, result=result._result), default=str) + '\n')

    def v2_runner_on_ok(self, result):
        self._write('ok', result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write('failed', result)

    def v2_runner_on_skipped(self, result):
        self._write('skipped', result)

    def v2_runner_on_unreachable(self, result):
        self._write('unreachable', result)
