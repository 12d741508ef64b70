# -*- coding: utf-8 -*-
# Copyright: dfir.docker contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The structures of an ELF core file (ET_CORE), as Linux writes them.

Private to the collection; pure functions, standard library only.

The file is laid out as the kernel lays out a core dump: the ELF header,
one PT_NOTE program header and one PT_LOAD per memory region, the notes,
then the contents of the regions, page aligned, in address order.  A region
that could not be read has a PT_LOAD with no bytes in the file (p_filesz 0),
which debuggers show as unavailable memory rather than zeros.

Notes: NT_PRSTATUS (one per thread), NT_PRPSINFO, NT_AUXV and NT_FILE.
Registers come from /proc/<tid>/syscall (the stack pointer, program counter
and system call arguments of a thread blocked in the kernel); the others are
unknown from /proc and written as zero.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

ET_CORE = 4
PT_LOAD = 1
PT_NOTE = 4
PF_X, PF_W, PF_R = 1, 2, 4
NT_PRSTATUS = 1
NT_PRPSINFO = 3
NT_AUXV = 6
NT_FILE = 0x46494c45
EHDR_SIZE = 64
PHDR_SIZE = 56
# e_phnum is 16 bits; 0xffff means "look in section 0", which we do not write.
MAX_PROGRAM_HEADERS = 0xfffe
PSARGS_SIZE = 80


class Arch:
    """What differs between machines: the ELF machine number and the register set."""

    def __init__(self, name, machine, register_names, syscall_registers, number_register, sp, pc):
        self.name = name
        self.machine = machine
        self.register_names = register_names
        self.syscall_registers = syscall_registers
        self.number_register = number_register
        self.sp = sp
        self.pc = pc

    def registers(self, syscall):
        """General registers from a parsed /proc/<tid>/syscall; unknown ones are 0."""
        values = dict.fromkeys(self.register_names, 0)
        if syscall:
            if syscall.get('sp') is not None:
                values[self.sp] = syscall['sp']
                values[self.pc] = syscall['pc']
            if syscall.get('number') is not None and syscall['number'] >= 0:
                values[self.number_register] = syscall['number']
                for name, value in zip(self.syscall_registers, syscall['args']):
                    values[name] = value
        return [values[name] & 0xffffffffffffffff for name in self.register_names]


# struct user_regs_struct of x86_64, in order.
X86_64 = Arch('x86_64', 62, (
    'r15', 'r14', 'r13', 'r12', 'rbp', 'rbx', 'r11', 'r10', 'r9', 'r8', 'rax', 'rcx', 'rdx', 'rsi', 'rdi',
    'orig_rax', 'rip', 'cs', 'eflags', 'rsp', 'ss', 'fs_base', 'gs_base', 'ds', 'es', 'fs', 'gs'),
    ('rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'), 'orig_rax', 'rsp', 'rip')
# struct user_pt_regs of arm64: x0..x30, sp, pc, pstate.
AARCH64 = Arch('aarch64', 183, tuple('x%d' % index for index in range(31)) + ('sp', 'pc', 'pstate'),
               ('x0', 'x1', 'x2', 'x3', 'x4', 'x5'), 'x8', 'sp', 'pc')
ARCHES = {'x86_64': X86_64, 'amd64': X86_64, 'aarch64': AARCH64, 'arm64': AARCH64}


def parse_syscall(text):
    """/proc/<tid>/syscall: {number, args, sp, pc}; None while the thread runs."""
    fields = text.split()
    if not fields or fields[0] == 'running':
        return None
    number = int(fields[0])
    values = [int(field, 16) for field in fields[1:]]
    if number == -1:
        # Blocked, but not in a system call: only sp and pc are known.
        return {'number': -1, 'args': [], 'sp': values[0] if values else None, 'pc': values[1] if len(values) > 1 else None}
    return {'number': number, 'args': values[:6], 'sp': values[6] if len(values) > 6 else None,
            'pc': values[7] if len(values) > 7 else None}


def _pad4(data):
    return data + b'\0' * (-len(data) % 4)


def note(note_type, desc, name=b'CORE'):
    """One ELF note: header, name and description, each padded to 4 bytes."""
    name = name + b'\0'
    return struct.pack('<III', len(name), len(desc), note_type) + _pad4(name) + _pad4(desc)


def _timeval(ticks, ticks_per_second):
    ticks = ticks or 0
    return struct.pack('<qq', ticks // ticks_per_second, (ticks % ticks_per_second) * 1000000 // ticks_per_second)


def prstatus(arch, thread, ticks_per_second):
    """struct elf_prstatus of one thread (64-bit layout).

    `thread`: pid (the thread id), ppid, pgrp, sid, sigpend, sighold, utime,
    stime, cutime, cstime (clock ticks) and syscall (parsed, or None).
    """
    head = struct.pack('<iii', 0, 0, 0) + struct.pack('<h', 0) + b'\0\0'
    head += struct.pack('<QQ', thread.get('sigpend', 0), thread.get('sighold', 0))
    head += struct.pack('<iiii', thread['pid'], thread.get('ppid', 0), thread.get('pgrp', 0), thread.get('sid', 0))
    for key in ('utime', 'stime', 'cutime', 'cstime'):
        head += _timeval(thread.get(key), ticks_per_second)
    registers = arch.registers(thread.get('syscall'))
    body = struct.pack('<%dQ' % len(registers), *registers) + struct.pack('<i', 0)
    data = head + body
    return data + b'\0' * (-len(data) % 8)


def prpsinfo(process):
    """struct elf_prpsinfo (64-bit layout): state, ids, command name and arguments."""
    state = process.get('state') or 'R'
    index = 'RSDTZW'.find(state)
    fname = (process.get('comm') or '').encode('utf-8', 'surrogateescape')[:15]
    psargs = (process.get('cmdline') or b'').rstrip(b'\0').replace(b'\0', b' ')[:PSARGS_SIZE - 1]
    return struct.pack('<bcbbxxxxQIIiiii16s80s', index if index >= 0 else 0, state.encode('ascii', 'replace')[:1],
                       1 if state == 'Z' else 0, max(-128, min(127, process.get('nice') or 0)),
                       process.get('flags') or 0, process.get('uid') or 0, process.get('gid') or 0,
                       process['pid'], process.get('ppid') or 0, process.get('pgrp') or 0, process.get('sid') or 0,
                       fname, psargs)


def nt_file(mappings, page_size):
    """The NT_FILE note: count, page size, (start, end, offset in pages) each, then the names."""
    header = struct.pack('<QQ', len(mappings), page_size)
    ranges = b''.join(struct.pack('<QQQ', item['start'], item['end'], item['offset'] // page_size) for item in mappings)
    names = b''.join(item['path_bytes'] + b'\0' for item in mappings)
    return header + ranges + names


def flags_of(perms):
    return (PF_R if 'r' in perms else 0) | (PF_W if 'w' in perms else 0) | (PF_X if 'x' in perms else 0)


class CoreLayout:
    """Where everything goes in the file; computed before a byte is written, so it can be streamed."""

    def __init__(self, arch, notes, regions, page_size):
        if len(regions) + 1 > MAX_PROGRAM_HEADERS:
            raise ValueError('%d memory regions are more than an ELF core without section headers can describe'
                             % len(regions))
        self.arch = arch
        self.notes = notes
        self.regions = regions
        self.page_size = page_size
        self.notes_offset = EHDR_SIZE + PHDR_SIZE * (len(regions) + 1)
        end_of_notes = self.notes_offset + len(notes)
        self.data_offset = end_of_notes + (-end_of_notes % page_size)
        self.offsets = []
        offset = self.data_offset
        for region in regions:
            self.offsets.append(offset)
            if region['dumped']:
                offset += region['end'] - region['start']
        self.size = offset

    def elf_header(self):
        ident = b'\x7fELF' + bytes([2, 1, 1, 0]) + b'\0' * 8
        return ident + struct.pack('<HHIQQQIHHHHHH', ET_CORE, self.arch.machine, 1, 0, EHDR_SIZE, 0, 0, EHDR_SIZE,
                                   PHDR_SIZE, len(self.regions) + 1, 0, 0, 0)

    def program_headers(self):
        headers = [struct.pack('<IIQQQQQQ', PT_NOTE, 0, self.notes_offset, 0, 0, len(self.notes), 0, 4)]
        for region, offset in zip(self.regions, self.offsets):
            size = region['end'] - region['start']
            headers.append(struct.pack('<IIQQQQQQ', PT_LOAD, flags_of(region['perms']), offset, region['start'], 0,
                                       size if region['dumped'] else 0, size, self.page_size))
        return b''.join(headers)

    def head(self):
        """Everything before the first region's bytes: headers, notes, padding."""
        data = self.elf_header() + self.program_headers() + self.notes
        return data + b'\0' * (self.data_offset - len(data))
