"""Print what a sealed case holds: where it is, who sealed it, each host's status, its size, a short tree.

Reads only the case's own files (manifest.json, hosts/*/engine.json); writes nothing.

    python demo/show_case.py CASE_DIR
"""

import json
import os
import sys

# A directory of more files than this is one line of the tree.
TREE_LIMIT = 4
# The tree stops after this many lines (a case from many containers is long).
TREE_LINES = 60


def human(size):
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if size < 1024 or unit == 'GiB':
            return ('%d %s' % (size, unit)) if unit == 'B' else ('%.1f %s' % (size, unit))
        size /= 1024.0


def load_json(path):
    with open(path, 'r', encoding='utf-8') as handle:
        return json.load(handle)


def container_names(case_dir, host):
    """Full container id -> 'name (state)', from the engine inventory collected for the host."""
    try:
        engine = load_json(os.path.join(case_dir, 'hosts', host, 'engine.json'))
    except (OSError, ValueError):
        return {}
    return dict((item.get('id'), '%s (%s)' % (item.get('name'), item.get('state')))
                for item in engine.get('containers') or [])


def tree_lines(path, names, prefix=''):
    """A short `tree`: a directory of many files is one line, a container id is followed by its name."""
    entries = sorted(os.listdir(path))
    lines = []
    for index, name in enumerate(entries):
        last = index == len(entries) - 1
        full = os.path.join(path, name)
        label = name
        children = []
        if os.path.isdir(full) and not os.path.islink(full):
            label += '/'
            inside = sorted(os.listdir(full))
            files = [os.path.join(full, item) for item in inside if os.path.isfile(os.path.join(full, item))]
            if len(inside) > TREE_LIMIT and len(files) == len(inside):
                label += '  %d files, %s' % (len(files), human(sum(os.lstat(item).st_size for item in files)))
            else:
                children = tree_lines(full, names, prefix + ('    ' if last else '|   '))
        if name in names:
            label += '  <- ' + names[name]
        lines.append(prefix + ('`-- ' if last else '|-- ') + label)
        lines.extend(children)
    return lines


def describe(case_dir):
    manifest = load_json(os.path.join(case_dir, 'manifest.json'))
    summary = manifest.get('summary') or {}
    signature = manifest.get('signature') or {}
    names = {}
    print('Case        %s' % case_dir)
    print('Case id     %s' % manifest.get('case_id'))
    print('Sealed      %s by %s (signer %s, key %s)' % (
        manifest.get('ended_at'), manifest.get('examiner'), signature.get('signer'), signature.get('fingerprint')))
    for host in manifest.get('hosts') or []:
        names.update(container_names(case_dir, host['name']))
        line = 'Host        %s: %s, %d artifact(s)' % (host['name'], host['status'], host.get('artifacts') or 0)
        if host.get('reason'):
            line += ' - %s' % host['reason']
        print(line)
    print('Artifacts   %d, %s (every one hashed on the host and again here)' % (
        summary.get('artifacts', 0), human(summary.get('bytes') or 0)))
    print('Tree')
    print('  %s/' % os.path.basename(case_dir.rstrip('/')))
    lines = tree_lines(case_dir, names, '  ')
    for line in lines[:TREE_LINES]:
        print(line)
    if len(lines) > TREE_LINES:
        print('  ... %d more lines (find %s -type f)' % (len(lines) - TREE_LINES, case_dir))
    return manifest


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        describe(os.path.abspath(argv[1]))
    except BrokenPipeError:  # `| head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ValueError, KeyError) as exc:
        print('show_case: cannot read the case %s: %s' % (argv[1], exc), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
