# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's version, written into every manifest (kept equal to galaxy.yml by a unit test)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

NAME = 'dfir.docker'
VERSION = '0.1.0'
