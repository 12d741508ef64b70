"""Reading ELF core files in tests, independently of the code that writes them."""

import re
import struct
import subprocess


def program_headers(path):
    """(type, flags, offset, vaddr, filesz, memsz) of every program header, parsed with struct."""
    with open(path, 'rb') as handle:
        header = handle.read(64)
        assert header[:4] == b'\x7fELF', 'not an ELF file'
        e_type, = struct.unpack_from('<H', header, 16)
        assert e_type == 4, 'not ET_CORE'
        phoff, = struct.unpack_from('<Q', header, 32)
        phentsize, phnum = struct.unpack_from('<HH', header, 54)
        handle.seek(phoff)
        table = handle.read(phentsize * phnum)
    headers = []
    for index in range(phnum):
        p_type, flags, offset, vaddr, _paddr, filesz, memsz, _align = struct.unpack_from('<IIQQQQQQ', table, index * phentsize)
        headers.append((p_type, flags, offset, vaddr, filesz, memsz))
    return headers


def address_of(path, marker):
    """The virtual address where `marker` is stored in the core's memory, from its file offset."""
    with open(path, 'rb') as handle:
        data = handle.read()
    position = data.find(marker)
    while position >= 0:
        for p_type, _flags, offset, vaddr, filesz, _memsz in program_headers(path):
            if p_type == 1 and offset <= position < offset + filesz:
                return vaddr + position - offset
        position = data.find(marker, position + 1)
    return None


def gdb(core, *commands):
    """Run gdb in batch mode on a core; return (exit code, output)."""
    args = ['gdb', '-batch', '-nx', '-c', core]
    for command in commands:
        args += ['-ex', command]
    result = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, check=False)
    return result.returncode, result.stdout.decode(errors='replace')


def readable_maps(maps_text):
    """(start, end) of each readable region of a /proc/<pid>/maps listing."""
    regions = []
    for line in maps_text.splitlines():
        match = re.match(r'([0-9a-f]+)-([0-9a-f]+) (\S+)', line)
        if match and match.group(3).startswith('r'):
            regions.append((int(match.group(1), 16), int(match.group(2), 16)))
    return regions
