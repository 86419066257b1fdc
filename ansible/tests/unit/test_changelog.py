# -*- coding: utf-8 -*-
# Copyright: liveupdate developers
# MIT License (see the repository's package.json)
"""
changelogs/ as antsibull-changelog reads it (its changelog.yaml format: releases by version, each with
its changes by section, a release date, the modules it added), checked offline: antsibull-changelog
itself is not packaged for Debian 12. galaxy.yml's version is a release there.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import os

import yaml

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')


def load(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return yaml.safe_load(f)


def test_changelog_yaml_is_in_antsibull_s_format_and_names_the_galaxy_version():
    config = load('changelogs', 'config.yaml')
    sections = set(s[0] for s in config['sections']) | set([config['prelude_section_name'], config['trivial_section_name']])
    log = load('changelogs', 'changelog.yaml')
    assert set(log) <= set(['ancestor', 'releases'])
    for version, release in log['releases'].items():
        assert [int(x) for x in version.split('.')], version
        datetime.date.fromisoformat(release['release_date'])
        assert set(release) <= set(['changes', 'modules', 'plugins', 'objects', 'fragments', 'release_date', 'codename']), version
        for section, entries in release.get('changes', {}).items():
            assert section in sections, '%s: unknown section %s' % (version, section)
            if section == config['prelude_section_name']:
                assert isinstance(entries, str)
            else:
                assert isinstance(entries, list) and all(isinstance(e, str) and e.strip() for e in entries), section
        for m in release.get('modules', []):
            assert set(m) == set(['name', 'description', 'namespace']), m
    assert load('galaxy.yml')['version'] in log['releases']


def test_galaxy_yml_says_where_the_source_and_the_issues_are():
    galaxy = load('galaxy.yml')
    for field in ('repository', 'issues', 'documentation', 'homepage'):
        assert galaxy[field].startswith('https://'), field
