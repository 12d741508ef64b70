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


def read_jsonl(path):
    """The records of a JSON Lines artifact, or none when the container has no such file."""
    try:
        with open(path, 'r', encoding='utf-8') as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except OSError:
        return []


def findings(case_dir, manifest):
    """What the collected evidence says each container's processes did, deleted and added."""
    for host in manifest.get('hosts') or []:
        containers_dir = os.path.join(case_dir, 'hosts', host['name'], 'containers')
        for container_id in sorted(os.listdir(containers_dir)) if os.path.isdir(containers_dir) else []:
            base = os.path.join(containers_dir, container_id)
            processes = {}
            if os.path.isfile(os.path.join(base, 'processes.json')):
                processes = load_json(os.path.join(base, 'processes.json'))
            deleted = [item for item in read_jsonl(os.path.join(base, 'whiteouts.jsonl'))
                       if item.get('record') == 'marker' and item.get('effect') == 'deleted']
            added = [item for item in read_jsonl(os.path.join(base, 'changes.jsonl'))
                     if item.get('change') == 'A' and item.get('type') == 'file']
            running = processes.get('processes') or []
            if not (deleted or added or running):
                continue
            print('\n%s (%s), from the collected evidence:' % (processes.get('name') or container_id[:12], container_id[:12]))
            for process in running:
                print('  process  host pid %-6s container pid %-4s %s (container uid %s = host uid %s)  %s' % (
                    process.get('host_pid'), process.get('container_pid'),
                    (process.get('container_user_names') or {}).get('effective'),
                    (process.get('container_uids') or {}).get('effective'),
                    (process.get('host_uids') or {}).get('effective'),
                    ' '.join(process.get('cmdline') or [])[:60]))
            for item in deleted:
                origin = next((hidden for hidden in item.get('hides') or [] if hidden.get('was_visible')), {})
                layer = origin.get('layer') or {}
                print('  deleted  %s  (from image layer %s: %s; sha256 %s, recovered)' % (
                    item.get('path'), layer.get('index'), (layer.get('created_by') or '')[:48],
                    (origin.get('sha256') or '')[:16]))
            for item in added:
                now = item.get('now') or {}
                print('  added    %s  (%s bytes, uid %s, mtime %s)' % (
                    item.get('path'), now.get('size'), now.get('uid'), now.get('mtime')))


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        case_dir = os.path.abspath(argv[1])
        findings(case_dir, describe(case_dir))
    except BrokenPipeError:  # `| head`: the reader has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ValueError, KeyError) as exc:
        print('show_case: cannot read the case %s: %s' % (argv[1], exc), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
