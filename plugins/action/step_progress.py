# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side: follow a long step started in the background, and show the examiner it is moving.

The step (a memory dump, a filesystem export) runs with `async` and `poll: 0`.
This plugin asks the host for the job's status every `interval` seconds and, while
it runs, how much the staging dir holds so far (complete artifacts and the one
being written), printed as one line per reading. It returns the step's own result,
so that it is registered and recorded as if the step had run in the foreground.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

# What async_status adds to the module's own result; not part of the step's result.
ASYNC_KEYS = ('ansible_job_id', 'started', 'finished', 'results_file', 'erased', 'stdout', 'stderr',
              'stdout_lines', 'stderr_lines')


def human_size(size):
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if size < 1024 or unit == 'GiB':
            return ('%d %s' % (size, unit)) if unit == 'B' else ('%.1f %s' % (size, unit))
        size /= 1024.0
    return '%d B' % size


def short_path(path):
    """containers/<64 hex>/memory/1234.core.partial as <12 hex>/memory/1234.core, for a readable line."""
    parts = path.split('/')
    if len(parts) > 2 and parts[0] == 'containers' and len(parts[1]) == 64:
        parts = [parts[1][:12]] + parts[2:]
    name = '/'.join(parts)
    return name[:-len('.partial')] if name.endswith('.partial') else name


def progress_line(host, what, elapsed, usage, previous):
    """One reading, for example: docker1: memory dump running 1m05s, 812.4 MiB written (3 done; in progress ...)."""
    minutes, seconds = divmod(int(elapsed), 60)
    line = '%s: %s running %dm%02ds, %s written so far' % (host, what, minutes, seconds, human_size(usage.get('bytes') or 0))
    if previous is not None and elapsed > previous[0]:
        rate = max(0, (usage.get('bytes') or 0) - previous[1]) / (elapsed - previous[0])
        line += ' (%s/s)' % human_size(rate)
    partial = usage.get('partial') or []
    line += ', %d artifact(s) complete' % (usage.get('files') or 0)
    if partial:
        line += ', writing %s' % ', '.join('%s (%s)' % (short_path(item['path']), human_size(item['size'])) for item in partial[:2])
    return line


class ActionModule(ActionBase):

    TRANSFERS_FILES = False

    ARGUMENT_SPEC = dict(
        job=dict(type='dict', required=True),
        evidence_dir=dict(type='str'),
        what=dict(type='str', default='step'),
        interval=dict(type='int', default=10),
    )

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        job = args['job']
        if not job.get('ansible_job_id') or job.get('finished') or job.get('skipped') or job.get('failed'):
            # Not in the background (check mode runs steps in the foreground), skipped, or it never started.
            return dict(job)
        if args['interval'] < 1:
            raise AnsibleActionFail('interval must be at least 1 second, not %d' % args['interval'])
        host = (task_vars or {}).get('inventory_hostname')
        started = time.monotonic()
        previous = None
        while True:
            status = self._async_status(job['ansible_job_id'], 'status', task_vars)
            if status.get('finished') or (status.get('failed') and not status.get('started')):
                break
            elapsed = time.monotonic() - started
            if args['evidence_dir']:
                usage = self._execute_module(module_name='dfir.docker.staging', task_vars=task_vars,
                                             module_args={'path': args['evidence_dir'], 'state': 'usage'})
                if not usage.get('failed'):
                    display.display(progress_line(host, args['what'], elapsed, usage, previous))
                    previous = (elapsed, usage.get('bytes') or 0)
            else:
                display.display('%s: %s running for %ds' % (host, args['what'], elapsed))
            time.sleep(args['interval'])
        self._async_status(job['ansible_job_id'], 'cleanup', task_vars)
        for key in ASYNC_KEYS:
            status.pop(key, None)
        result.update(status)
        return result

    def _async_status(self, jid, mode, task_vars):
        # As ansible.builtin.async_status does: the job file is in the async dir of the user the step ran as.
        async_dir = self._remote_expand_user(self.get_shell_option('async_dir', default='~/.ansible_async'))
        return self._execute_module(module_name='ansible.legacy.async_status', task_vars=task_vars,
                                    module_args={'jid': jid, 'mode': mode, '_async_dir': async_dir})
