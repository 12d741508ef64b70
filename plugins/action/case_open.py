# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: create (or reopen) a case directory and check the signing key first."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.dfir.docker.plugins.module_utils._engine_api import parse_docker_host
from ansible_collections.dfir.docker.plugins.plugin_utils import _case, _query, _sshsig
from ansible_collections.dfir.docker.plugins.plugin_utils._version import NAME, VERSION


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = dict(
        case_root=dict(type='path', required=True),
        case_id=dict(type='str', required=True),
        examiner=dict(type='str', required=True),
        signing_key=dict(type='path', required=True),
        signing_key_passphrase=dict(type='str', no_log=True),
        signer=dict(type='str', required=True),
        select=dict(type='str'),
        hosts=dict(type='list', elements='str', default=[]),
        parameters=dict(type='dict', default={}),
    )

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        try:
            _case.check_case_id(args['case_id'])
            if args['select']:
                _query.compile_query(args['select'])
            problems = _case.host_parameter_problems(args['parameters'], parse_docker_host)
            if problems:
                raise _case.CaseError('; '.join(problems))
            case_dir = os.path.join(args['case_root'], args['case_id'])
            public_key = _sshsig.public_key(args['signing_key'], args['signing_key_passphrase'])
            fingerprint = _sshsig.fingerprint(public_key)
        except (_case.CaseError, _query.QueryError, _sshsig.SigningError) as exc:
            raise AnsibleActionFail('case not opened, no host was touched: %s' % exc)
        if os.path.exists(os.path.join(case_dir, _case.SIGNATURE)):
            raise AnsibleActionFail('case %s is already sealed (%s exists): choose a new dfir_case_id' % (case_dir, _case.SIGNATURE))
        reopened = os.path.isdir(case_dir)
        if self._task.check_mode:
            result.update(changed=not reopened, case_dir=case_dir, case_id=args['case_id'], reopened=reopened,
                          signer_fingerprint=fingerprint)
            return result
        try:
            os.makedirs(os.path.join(case_dir, _case.HOSTS_DIR), mode=0o750, exist_ok=True)
            os.chmod(case_dir, 0o750)
        except OSError as exc:
            raise AnsibleActionFail('case directory %s cannot be created: %s' % (case_dir, exc.strerror))
        started_at = _case.utc_now()
        _case.append_custody(case_dir, 'case reopened' if reopened else 'case opened', args['examiner'],
                             parameters=dict(args['parameters'], hosts=args['hosts'], signer=args['signer'],
                                             signing_key_fingerprint=fingerprint),
                             result={'tool': NAME, 'version': VERSION}, when=started_at)
        result.update(changed=True, case_dir=case_dir, case_id=args['case_id'], started_at=started_at,
                      reopened=reopened, signer_public_key=public_key, signer_fingerprint=fingerprint)
        return result
