# -*- coding: utf-8 -*-
# Copyright: liveupdate developers
# MIT License (see the repository's package.json)
"""The arguments of liveupdate.hypervisor.live_update, shared by its documentation module and its action."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

ARGUMENT_SPEC = dict(
    profile=dict(type='path'),
    profile_content=dict(type='str'),
    phase=dict(type='str', default='all', choices=['all', 'update', 'prepare', 'suspend', 'kexec', 'resume']),
    vmm_only=dict(type='bool', default=False),
    force=dict(type='bool', default=False),
    plan=dict(type='path'),
    facts=dict(type='path'),
    via=dict(type='str', default='agent', choices=['agent', 'ssh']),
    allow_other_host=dict(type='bool', default=False),
    known_hosts=dict(type='path'),
    accept_new_host_key=dict(type='bool', default=False),
    liveupdate_cli=dict(type='str', default='liveupdate'),
    timeout=dict(type='int', default=3600),
    reconnect_timeout=dict(type='int', default=600),
)

MUTUALLY_EXCLUSIVE = [['profile', 'profile_content']]
