# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: write triage.json into a case before it is sealed, and the run's triage table."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.dfir.docker.plugins.plugin_utils import _case, _triage


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = dict(
        case_dir=dict(type='path', required=True),
        case_id=dict(type='str', required=True),
        examiner=dict(type='str', required=True),
        hosts=dict(type='list', elements='str', default=[]),
        host_failures=dict(type='dict', default={}),
        show=dict(type='int', default=20),
    )

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        case_dir = args['case_dir']
        if self._task.check_mode and not os.path.isdir(case_dir):
            # case_open creates nothing in check mode: nothing was fetched to summarize.
            result.update(changed=False, path=None, totals={}, hosts=[], table=['check mode: nothing collected'])
            return result
        if not os.path.isdir(case_dir):
            raise AnsibleActionFail('case directory %s does not exist' % case_dir)
        if os.path.exists(os.path.join(case_dir, _case.SIGNATURE)):
            raise AnsibleActionFail('case %s is already sealed: %s can no longer be added to it' % (case_dir, _triage.TRIAGE))
        try:
            document = _triage.summarize(case_dir, args['case_id'], args['hosts'], args['host_failures'])
        except _case.CaseError as exc:
            raise AnsibleActionFail('the triage summary of %s cannot be made: %s' % (case_dir, exc))
        result.update(changed=not self._task.check_mode, totals=document['totals'], hosts=document['hosts'],
                      table=_triage.table(document, args['show']))
        if self._task.check_mode:
            return result
        path = _triage.write(case_dir, document)
        _case.append_custody(case_dir, 'triage summary', args['examiner'], parameters={'file': _triage.TRIAGE},
                             result=document['totals'])
        result['path'] = path
        return result
