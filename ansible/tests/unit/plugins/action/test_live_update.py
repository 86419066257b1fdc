# -*- coding: utf-8 -*-
# Copyright: liveupdate developers
# MIT License (see the repository's package.json)
"""
Units of the action, offline: the liveupdate CLI's JSON turned into the task's result. The CLI is a
test double here (its events as the real CLI prints them, from src/report/stream.ts's types); the
real CLI against real hosts is test/integration/ansible.test.ts and test/lab/ansible.test.ts.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

import pytest
from unittest.mock import MagicMock

from ansible_collections.liveupdate.hypervisor.plugins.action import live_update as action
from ansible_collections.liveupdate.hypervisor.plugins.module_utils.live_update import ARGUMENT_SPEC


def args(**over):
    a = dict((k, v.get('default')) for k, v in ARGUMENT_SPEC.items())
    a.update(profile='/etc/liveupdate/hv1.yaml')
    a.update(over)
    return a


def module(check=False, diff=False):
    play = MagicMock(check_mode=check, diff=diff, remote_addr='hv1', become=False)
    connection = MagicMock(transport='ssh')
    connection.get_option.side_effect = lambda name: {'host': 'hv1', 'port': None, 'remote_user': 'root', 'private_key_file': None}[name]
    m = action.ActionModule(MagicMock(), connection, play, MagicMock(), MagicMock(), MagicMock())
    m._boot_id = MagicMock(return_value='11111111-2222-3333-4444-555555555555')
    return m


def lines(*events):
    return 0, ''.join(json.dumps(e) + '\n' for e in events), ''


PLAN = {'type': 'plan', 'host': 'hv1', 'update': 'kernel', 'backend': 'pmem', 'phases': ['prepare', 'suspend', 'kexec', 'resume'],
        'steps': [{'id': 'prepare/mount', 'description': 'mount'}, {'id': 'kexec/kexec-exec', 'description': 'jump'}], 'vms': [{'name': 'vm1'}],
        'facts': {'kernelRelease': '6.1.0-28-amd64', 'bootId': 'b'}}
WHY = "hv1 runs 6.1.0-28-amd64 (/boot/vmlinuz, built '#1 SMP') with the command line the update would load, and its VM runs"


def test_up_to_date_is_ok_not_changed_and_touches_nothing():
    m = module()
    m._stream = MagicMock(return_value=lines(
        {'type': 'format', 'formatVersion': 1},
        {'type': 'result', 'command': 'run', 'host': 'hv1', 'ok': True, 'changed': False, 'upToDate': WHY, 'failures': [], 'blackouts': []}))
    out = m._update(args())
    assert out['changed'] is False
    assert out['up_to_date'] == WHY
    assert out['msg'] == 'nothing to do: ' + WHY
    assert 'boot_id_after' not in out, 'no reconnect: nothing ran'
    argv = m._stream.call_args[0][1]
    assert argv[:3] == ['run', '--yes', '--json'] and '--force' not in argv


def test_check_mode_of_an_up_to_date_host_is_not_changed():
    m = module(check=True)
    plan = dict(PLAN, steps=[], upToDate=WHY)
    m._cli = MagicMock(return_value=(0, json.dumps(plan), ''))
    out = m._update(args())
    assert out['changed'] is False
    assert out['msg'] == 'check mode: nothing to do: ' + WHY
    assert out['plan']['to_do'] == 0


def test_check_mode_with_steps_to_do_is_changed():
    m = module(check=True)
    m._cli = MagicMock(return_value=(0, json.dumps(PLAN), ''))
    out = m._update(args())
    assert out['changed'] is True
    assert out['msg'] == 'check mode: 2 of 2 steps would run on hv1'


def test_force_reaches_run_and_not_a_single_phase():
    m = module()
    m._stream = MagicMock(return_value=lines({'type': 'result', 'command': 'run', 'host': 'hv1', 'ok': True, 'changed': False,
                                              'upToDate': WHY, 'failures': [], 'blackouts': []}))
    m._update(args(force=True))
    assert '--force' in m._stream.call_args[0][1]
    m._update(args(force=True, phase='suspend'))
    assert '--force' not in m._stream.call_args[0][1]


def test_an_error_line_fails_the_task_with_liveupdate_s_words():
    m = module()
    m._stream = MagicMock(return_value=lines({'type': 'error', 'code': 'PLAN_INVALID', 'message': 'hv1.yaml: 1 problem', 'hint': 'fix it'}))
    with pytest.raises(action.LiveupdateFailed) as e:
        m._update(args())
    assert e.value.msg == 'PLAN_INVALID: hv1.yaml: 1 problem'
    assert e.value.extra['hint'] == 'fix it'


def test_progress_shows_each_finished_step(monkeypatch):
    shown = []
    monkeypatch.setattr(action.display, 'display', shown.append)
    action.progress('hv1', json.dumps({'type': 'step-end', 'id': 'kexec/kexec-exec', 'result': 'ok', 'ms': 1234}).encode())
    action.progress('hv1', json.dumps({'type': 'step-failed', 'id': 'resume/cont/vm1', 'message': 'gone'}).encode())
    action.progress('hv1', b'not json')
    action.progress('hv1', json.dumps({'type': 'step-start', 'id': 'x'}).encode())
    assert shown == ['liveupdate hv1: kexec/kexec-exec ok (1234 ms)', 'liveupdate hv1: resume/cont/vm1 FAILED: gone']


def test_summary_and_diff_of_a_plan():
    s = action.summary(PLAN)
    assert s == dict(update='kernel', backend='pmem', host='hv1', phases=PLAN['phases'], steps=2, to_do=2, vms=['vm1'])
    d = action.diff(PLAN)
    assert d['after'] == 'prepare/mount  mount\nkexec/kexec-exec  jump\n'
    assert d['before'].startswith('kernel 6.1.0-28-amd64 (boot b)')
