#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: liveupdate developers
# MIT License (see the repository's package.json)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: live_update
short_description: Live-update a hypervisor host under its running VMs with liveupdate's on-host agent
description:
  - Hands one host's live update to liveupdate's on-host agent, which pauses and saves the VMs, kexecs
    the new kernel (or, with C(vmm_only), restarts only the VMMs) and resumes the VMs where they were,
    then reports back the per-VM blackout, the boot ids and the run.
  - Runs on the control node, as M(ansible.builtin.reboot) does. It calls the C(liveupdate) CLI installed
    there, which installs or checks the agent on the host over SSH (the Node runtime, the agent and its
    helper come from the control node, never from the internet), hands it the plan and follows the host's
    journal across the kexec. The host finishes the update by itself if the control node goes away.
  - Idempotent. A host that runs the kernel the profile loads already (its build string, read from the
    image, with the command line the update would load) and whose VMs all run has nothing to do; the task
    reports C(ok), not C(changed), in check mode too, and touches no VM. C(force) updates it anyway.
  - Each step is shown as it finishes, so an update that takes many minutes shows life.
  - After the update it resets Ansible's connection, waits for the host to answer again and proves the
    boot by the host's boot_id (new after a kexec, unchanged after a VMM-only update).
  - The host is reached at the task's C(ansible_host), C(ansible_port), C(ansible_user) and
    C(ansible_ssh_private_key_file); with C(become), every command runs through C(sudo -n) there. With
    the C(local) connection the update runs on the control node itself.
version_added: 0.1.0
author:
  - liveupdate developers
options:
  profile:
    description:
      - The host profile (YAML) on the control node. One of C(profile), C(profile_content) or C(plan) is needed.
    type: path
  profile_content:
    description:
      - The host profile itself, as YAML text.
    type: str
  phase:
    description:
      - Which part of the update to run. C(all) is C(liveupdate run); C(update) is suspend, kexec and
        resume of a host prepared before (C(liveupdate run --phase update), as a fleet's rollout with phases update);
        the others are that one phase.
    type: str
    default: all
    choices: [all, update, prepare, suspend, kexec, resume]
  vmm_only:
    description:
      - Restart the VMMs on the running kernel instead of a kexec.
    type: bool
    default: false
  plan:
    description:
      - A plan saved with C(liveupdate plan --out) on the control node; run exactly it (refused if the
        profile, the host's boot or its facts changed since).
    type: path
  facts:
    description:
      - Plan from facts saved with C(liveupdate facts --json) instead of probing the host.
    type: path
  via:
    description:
      - C(agent) hands the plan to the on-host agent; C(ssh) drives each step from the control node.
    type: str
    default: agent
    choices: [agent, ssh]
  allow_other_host:
    description:
      - Run even when the host's hostname differs from the profile's C(host.name).
    type: bool
    default: false
  known_hosts:
    description:
      - The known_hosts file liveupdate checks the host key against (its default is ~/.ssh/known_hosts).
    type: path
  accept_new_host_key:
    description:
      - Trust and record an unknown host key (a changed key is always refused).
    type: bool
    default: false
  force:
    description:
      - Update even when the host runs the kernel (or, with I(vmm_only), the QEMUs) the update would bring.
      - By default such a host has nothing to do, and the task reports C(ok) without touching a VM.
    type: bool
    default: false
    version_added: 0.2.0
  liveupdate_cli:
    description:
      - The C(liveupdate) command on the control node.
    type: str
    default: liveupdate
  timeout:
    description:
      - Seconds the whole update may take before the task fails (the host goes on by itself).
    type: int
    default: 3600
  reconnect_timeout:
    description:
      - Seconds to wait for Ansible's connection to the host after the update.
    type: int
    default: 600
attributes:
  check_mode:
    support: full
    description: Makes the plan (C(liveupdate plan)) and changes nothing; C(plan) holds its summary.
  diff_mode:
    support: full
    description: The steps the update will run, in order.
  platform:
    platforms: posix
notes:
  - Needs liveupdate on the control node and SSH access to the host as root (or C(become)).
seealso:
  - module: ansible.builtin.reboot
'''

EXAMPLES = r'''
- name: Live-update the hypervisor's kernel under its VMs
  liveupdate.hypervisor.live_update:
    profile: /etc/liveupdate/{{ inventory_hostname }}.yaml
  register: lu

- name: Restart only the VMMs (a QEMU update)
  liveupdate.hypervisor.live_update:
    profile: /etc/liveupdate/{{ inventory_hostname }}.yaml
    vmm_only: true
'''

RETURN = r'''
plan:
  description: The plan's summary (also in check mode).
  returned: always
  type: dict
  sample: {update: kernel, steps: 42, to_do: 39, vms: [vm1], backend: pmem}
blackouts:
  description: Each VM's blackout, stop sent to continue answered.
  returned: when the update ran
  type: list
  elements: dict
  sample: [{vm: vm1, ms: 2810}]
boot_id_before:
  description: The host's boot_id before the update, read over Ansible's connection.
  returned: always
  type: str
boot_id_after:
  description: The host's boot_id after it, read over Ansible's connection once it answered again.
  returned: when the update ran (not when the host was up to date)
  type: str
up_to_date:
  description: Why the host had nothing to do (it runs what the update would bring); the task changed nothing.
  returned: when the host was up to date
  type: str
  sample: hv1 runs 6.1.0-28-amd64 (/boot/vmlinuz, built '#1 SMP ...') with the command line the update would load, and its VM runs
run_id:
  description: The run's id in its journal.
  returned: when the update ran
  type: str
journal:
  description: Where the run's journal is, as C(liveupdate status) says it, HOST:PATH for the agent's journal on the host.
  returned: when the update ran
  type: str
  sample: root@hv1:/var/lib/liveupdate/hv1.journal
failures:
  description: The failed steps, each with the journal's code and message.
  returned: when the update failed
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.liveupdate.hypervisor.plugins.module_utils.live_update import ARGUMENT_SPEC, MUTUALLY_EXCLUSIVE


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE, supports_check_mode=True)
    # the work is the action plugin's, on the control node; reaching here means it was bypassed
    module.fail_json(msg='liveupdate.hypervisor.live_update runs on the control node (its action plugin); it cannot run on the host')


if __name__ == '__main__':
    main()
