# -*- coding: utf-8 -*-
# Copyright: liveupdate developers
# MIT License (see the repository's package.json)
"""
liveupdate.hypervisor.live_update on the control node: the task's host and connection become a
`liveupdate` command line (its --json events are the result), and after the update Ansible's own
connection is reset and the host's boot_id read again, as ansible.builtin.reboot proves a reboot.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import select
import subprocess
import tempfile
import time

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.liveupdate.hypervisor.plugins.module_utils.live_update import ARGUMENT_SPEC, MUTUALLY_EXCLUSIVE

display = Display()

# the phase argument -> liveupdate's command
COMMANDS = {'all': ['run'], 'update': ['run', '--phase', 'update'], 'prepare': ['prepare'], 'suspend': ['suspend'], 'kexec': ['kexec'], 'resume': ['resume']}
BOOT_ID = 'cat /proc/sys/kernel/random/boot_id'


class LiveupdateFailed(Exception):
    """A failure with the words liveupdate (or the journal) gave for it, and what else the result says."""

    def __init__(self, msg, **extra):
        super(LiveupdateFailed, self).__init__(msg)
        self.msg = msg
        self.extra = extra


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE)
        if not (args['profile'] or args['profile_content'] or args['plan']):
            return dict(result, failed=True, msg='one of profile, profile_content or plan is needed')
        profile_file = None
        try:
            if args['profile_content'] is not None:
                fd, profile_file = tempfile.mkstemp(prefix='liveupdate-profile-', suffix='.yaml')
                with os.fdopen(fd, 'w') as f:
                    f.write(args['profile_content'])
                args['profile'] = profile_file
            result.update(self._update(args))
        except LiveupdateFailed as e:
            result.update(e.extra)
            result.update(failed=True, msg=e.msg)
        finally:
            if profile_file:
                os.unlink(profile_file)
        return result

    # ---- the update ----

    def _update(self, args):
        out = dict(changed=False)
        out['boot_id_before'] = self._boot_id()
        command = COMMANDS[args['phase']]
        # a host where the update would take it already has nothing to do; force runs it anyway (run takes it)
        common = self._target() + self._inputs(args) + (['--force'] if args['force'] and command[0] == 'run' else [])
        if self._play_context.check_mode or self._play_context.diff:
            # the plan that would run, as the run itself would make it (a saved plan: that one)
            plan = self._json(self._cli(args, command + ['--dry-run', '--json'] + common))
            if plan.get('type') != 'plan':
                raise LiveupdateFailed('liveupdate %s --dry-run did not print a plan' % ' '.join(command))
            out['plan'] = summary(plan)
            if self._play_context.diff:
                out['diff'] = diff(plan)
            if self._play_context.check_mode:
                out['changed'] = out['plan']['to_do'] > 0
                if plan.get('upToDate'):
                    out.update(up_to_date=plan['upToDate'], msg='check mode: nothing to do: %s' % plan['upToDate'])
                else:
                    out['msg'] = 'check mode: %d of %d steps would run on %s' % (out['plan']['to_do'], out['plan']['steps'], plan['host'])
                return out
        events = self._events(self._stream(args, command + ['--yes', '--json'] + common))
        last = events[-1] if events else {}
        if last.get('type') == 'result' and last.get('upToDate'):
            # nothing ran: the host is where the update would take it (no VM touched, no journal)
            out.update(changed=False, up_to_date=last['upToDate'], msg='nothing to do: %s' % last['upToDate'])
            return out
        planned = [e for e in events if e.get('type') == 'plan']
        if planned and 'plan' not in out:
            out['plan'] = dict(steps=planned[-1]['steps'], phases=planned[-1]['phases'])
        if last.get('type') == 'detached':
            raise LiveupdateFailed('stopped following the agent on %s (%s); the host goes on by itself: %s'
                                   % (last['host'], last['why'], last['follow']), **out)
        if last.get('type') != 'result':
            raise LiveupdateFailed('liveupdate %s ended without a result' % ' '.join(command), **out)
        ran = [e for e in events if e.get('type') == 'step-end' and e.get('result') == 'ok']
        out.update(changed=bool(ran), run_id=last.get('runId'), journal=last['journal'], blackouts=last['blackouts'])
        if last.get('aborted'):
            out['aborted'] = last['aborted']
        if not last['ok']:
            out['failures'] = last['failures']
            first = last['failures'][0] if last['failures'] else dict(id='?', message='failed')
            raise LiveupdateFailed('%s: %s (journal %s)' % (first['id'], first['message'], last['journal']), **out)
        # a VMM-only plan has a kexec phase too (its sync step), but no jump
        kexec = not args['vmm_only'] and any(e.get('phase') == 'kexec' for e in ran)
        out['boot_id_after'] = self._boot_id_after(args['reconnect_timeout']) if kexec else self._boot_id()
        if kexec and out['boot_id_after'] == out['boot_id_before']:
            raise LiveupdateFailed('the host answers with the boot_id it had before the kexec (%s): it did not boot the new kernel'
                                   % out['boot_id_before'], **out)
        if not kexec and out['boot_id_after'] != out['boot_id_before']:
            raise LiveupdateFailed('the host booted during an update without a kexec (boot_id %s -> %s)'
                                   % (out['boot_id_before'], out['boot_id_after']), **out)
        vms = ', '.join('%s %d ms' % (b['vm'], b['ms']) for b in out['blackouts'])
        out['msg'] = '%s: %s done%s' % (' '.join(command), 'VMM restart' if args['vmm_only'] else 'live update', '; blackout ' + vms if vms else '')
        return out

    # ---- the liveupdate command line ----

    def _target(self):
        """--host and how to log in, from the task's connection; none for the local connection."""
        if self._connection.transport.split('.')[-1] == 'local':
            return []
        host = self._connection_option('host') or self._play_context.remote_addr
        port = self._connection_option('port')
        user = self._connection_option('remote_user')
        key = self._connection_option('private_key_file')
        addr = '[%s]' % host if ':' in host and port else host
        argv = ['--host', '%s%s%s' % (user + '@' if user else '', addr, ':%s' % port if port else '')]
        if key:
            argv += ['--identity', os.path.expanduser(key)]
        if self._play_context.become:
            argv.append('--become')
        return argv

    def _connection_option(self, name):
        try:
            return self._connection.get_option(name)
        except (AnsibleError, KeyError):
            return None

    @staticmethod
    def _inputs(args):
        argv = []
        for name, flag in (('profile', '--profile'), ('plan', '--plan'), ('facts', '--facts'), ('known_hosts', '--known-hosts')):
            if args[name]:
                argv += [flag, args[name]]
        if args['via'] == 'ssh':
            argv += ['--via', 'ssh']
        for name, flag in (('vmm_only', '--vmm-only'), ('allow_other_host', '--allow-other-host'), ('accept_new_host_key', '--accept-new-host-key')):
            if args[name]:
                argv.append(flag)
        return argv

    def _cli(self, args, argv):
        cmd = [args['liveupdate_cli']] + argv
        display.vvv('liveupdate: %s' % ' '.join(cmd), host=self._play_context.remote_addr)
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=args['timeout'], check=False)
        except OSError as e:
            raise LiveupdateFailed('cannot run the liveupdate CLI %r on the control node: %s (install liveupdate there, or set liveupdate_cli)'
                                   % (args['liveupdate_cli'], e))
        except subprocess.TimeoutExpired:
            raise LiveupdateFailed('liveupdate %s took longer than timeout (%d s); the host goes on by itself: liveupdate status --follow'
                                   % (argv[0], args['timeout']))
        return p.returncode, to_text(p.stdout), to_text(p.stderr)

    def _stream(self, args, argv):
        """A phase command, its events read as they come: each finished or failed step is shown at once, so a long update shows life."""
        cmd = [args['liveupdate_cli']] + argv
        host = self._play_context.remote_addr
        display.vvv('liveupdate: %s' % ' '.join(cmd), host=host)
        deadline = time.time() + args['timeout']
        with tempfile.TemporaryFile() as err:
            try:
                p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
            except OSError as e:
                raise LiveupdateFailed('cannot run the liveupdate CLI %r on the control node: %s (install liveupdate there, or set liveupdate_cli)'
                                       % (args['liveupdate_cli'], e))
            out, pending = [], b''
            while True:
                left = deadline - time.time()
                if left <= 0:
                    p.kill()
                    p.wait()
                    raise LiveupdateFailed('liveupdate %s took longer than timeout (%d s); the host goes on by itself: liveupdate status --follow'
                                           % (argv[0], args['timeout']))
                ready, _, _ = select.select([p.stdout], [], [], min(left, 5))
                if not ready:
                    continue
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out.append(chunk)
                pending += chunk
                while b'\n' in pending:
                    line, pending = pending.split(b'\n', 1)
                    progress(host, line)
            p.stdout.close()
            code = p.wait()
            err.seek(0)
            return code, to_text(b''.join(out)), to_text(err.read())

    @staticmethod
    def _json(run):
        """One JSON document (plan --json, run --dry-run --json), or liveupdate's error."""
        code, stdout, stderr = run
        try:
            doc = json.loads(stdout)
        except ValueError:
            raise cli_failed(code, stdout, stderr)
        if doc.get('type') == 'error':
            raise_error(doc)
        return doc

    @staticmethod
    def _events(run):
        """The NDJSON events of a phase command (a format line first); liveupdate's error if it ended with one."""
        code, stdout, stderr = run
        events = []
        for line in stdout.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        if events and events[-1].get('type') == 'error':
            raise_error(events[-1])
        if not events:
            raise cli_failed(code, stdout, stderr)
        return events

    # ---- the host over Ansible's own connection ----

    def _boot_id(self):
        r = self._low_level_execute_command(BOOT_ID, sudoable=False)
        if r.get('rc') != 0:
            raise LiveupdateFailed('cannot read the host\'s boot_id over Ansible\'s connection: %s' % to_text(r.get('stderr')).strip())
        return to_text(r['stdout']).strip()

    def _boot_id_after(self, timeout):
        """After a kexec the connection Ansible had is dead: reset it and retry until the host answers."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                self._connection.reset()
                return self._boot_id()
            except Exception as e:  # pylint: disable=broad-except  # any connection error: the host is not back yet
                last = e
                time.sleep(2)
        raise LiveupdateFailed('the host did not answer over Ansible\'s connection within %d s of the update: %s' % (timeout, last))


def progress(host, line):
    """One event of a running update, shown as it comes: a step done or failed, the plan, a detach."""
    try:
        e = json.loads(line)
    except ValueError:
        return
    kind = e.get('type')
    if kind == 'plan':
        display.display('liveupdate %s: %d steps (%s)' % (host, e.get('steps', 0), ', '.join(e.get('phases', []))))
    elif kind == 'step-end':
        display.display('liveupdate %s: %s %s (%d ms)' % (host, e.get('id'), e.get('result'), e.get('ms', 0)))
    elif kind == 'step-failed':
        display.display('liveupdate %s: %s FAILED: %s' % (host, e.get('id'), e.get('message')))
    elif kind == 'detached':
        display.display('liveupdate %s: detached (%s)' % (host, e.get('why')))


def cli_failed(code, stdout, stderr):
    """liveupdate printed nothing this action reads: its exit code and the end of what it said."""
    return LiveupdateFailed('liveupdate exited %d: %s' % (code, (stderr or stdout).strip()[-2000:]))


def raise_error(doc):
    extra = {}
    if doc.get('hint'):
        extra['hint'] = doc['hint']
    if doc.get('diagnostics'):
        extra['diagnostics'] = doc['diagnostics']
    raise LiveupdateFailed('%s: %s' % (doc.get('code', 'ERROR'), doc.get('message', '')), **extra)


def summary(plan):
    to_do = [s for s in plan['steps'] if not s.get('satisfied')]
    return dict(update=plan['update'], backend=plan['backend'], host=plan['host'], phases=plan['phases'],
                steps=len(plan['steps']), to_do=len(to_do), vms=[v['name'] for v in plan['vms']])


def diff(plan):
    """Before: what the facts say the host runs; after: the steps the update will run, in order."""
    facts = plan.get('facts') or {}
    before = ['kernel %s (boot %s)' % (facts.get('kernelRelease', '?'), facts.get('bootId', '?'))]
    before += ['vm %s: QEMU %s' % (v['name'], v.get('qemuVersion', '?')) for v in plan['vms']]
    after = ['%s  %s' % (s['id'], s['description']) for s in plan['steps'] if not s.get('satisfied')]
    return dict(before_header='%s now' % plan['host'], after_header='%s: %s update, steps to run' % (plan['host'], plan['update']),
                before='\n'.join(before) + '\n', after='\n'.join(after) + '\n')
