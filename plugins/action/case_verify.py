# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: re-check a sealed case, anywhere, at any later time. Reads only."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.dfir.docker.plugins.plugin_utils import _case, _sshsig


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = dict(
        case_dir=dict(type='path', required=True),
        allowed_signers=dict(type='path', required=True),
        signer=dict(type='str'),
    )

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        case_dir = args['case_dir']
        if not os.path.isdir(case_dir):
            raise AnsibleActionFail('case directory %s does not exist' % case_dir)
        # The manifest is read once: the signature is checked over these bytes, and the files of the
        # case are checked against what these same bytes say.
        read = _case.read_manifest(case_dir)
        manifest_bytes = read[0]
        try:
            problems, counts = _case.verify_case(case_dir, manifest=read)
        except _case.CaseError as exc:
            problems, counts = [str(exc)], {}
        manifest_path = os.path.join(case_dir, _case.MANIFEST)
        signer = args['signer']
        verdict = None
        if manifest_bytes is not None:
            manifest, _shape_problems = _case.manifest_shape(manifest_bytes)
            manifest = manifest or {}
            named = manifest.get('signature')
            signer = signer or (named.get('signer') if isinstance(named, dict) else None)
            if not signer or not isinstance(signer, str):
                problems.append('no signer given and none named in the manifest')
                signer = None
            else:
                try:
                    verdict = _sshsig.verify(args['allowed_signers'], signer, manifest_path,
                                             os.path.join(case_dir, _case.SIGNATURE), data=manifest_bytes)
                except _sshsig.SigningError as exc:
                    problems.append(str(exc))
            result['summary'] = manifest.get('summary')
        result.update(changed=False, case_dir=case_dir, problems=problems, files_checked=counts.get('files', 0),
                      signature=verdict, signer=signer)
        if problems:
            result.update(failed=True, msg='case %s FAILED verification: %s' % (case_dir, '; '.join(problems)))
        else:
            result['msg'] = 'case %s verified: %d file(s) match SHA256SUMS and the signed manifest; %s' % (
                case_dir, counts.get('files', 0), verdict)
        return result
