# -*- coding: utf-8 -*-
# Copyright: liveupdate developers
# MIT License (see the repository's package.json)
"""The module's arguments, as the documentation module documents them (offline)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import yaml

from ansible_collections.liveupdate.hypervisor.plugins.module_utils.live_update import ARGUMENT_SPEC
from ansible_collections.liveupdate.hypervisor.plugins.modules import live_update


def test_every_argument_is_documented_with_its_type_and_default():
    doc = yaml.safe_load(live_update.DOCUMENTATION)['options']
    assert sorted(doc) == sorted(ARGUMENT_SPEC)
    for name, spec in ARGUMENT_SPEC.items():
        assert doc[name]['type'] == spec['type'], name
        assert doc[name].get('default') == spec.get('default'), name
        assert doc[name].get('choices') == spec.get('choices'), name
