#!/usr/bin/env python3
"""Resolves the containers-common seccomp profile into Ovvoc's job profile (profile.json).

The source is Docker-derived: rules carry `includes`/`excludes` conditions on capabilities,
architecture and kernel version that Docker or Podman evaluate when a container starts. A job
container is always the same (x86_64, a 6.x kernel, no capabilities at all), so this script
evaluates the conditions once, then tightens the result as README.md explains, and writes a
self-contained profile in the OCI runtime-spec format, which runc and Docker both load.

Deterministic: the same source gives byte-identical output. Python 3 standard library only.

  resolve.py [--source FILE] [--output FILE|-] [--check]
"""

import argparse
import json
import os
import sys

DEFAULT_SOURCE = "/usr/share/containers/seccomp.json"
DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profile.json")

# The container the profile is resolved for.
ARCH_NAMES = {"amd64", "x86_64"}  # Docker's spelling (Go's GOARCH) and the kernel's
KERNEL = (6, 0)
CAPS = frozenset()  # every capability dropped
# No SCMP_ARCH_X86: a 32-bit process is killed at its first syscall. On i386, libseccomp turns
# every socket() rule with arguments into socketcall(SYS_SOCKET) with the arguments dropped
# (they sit in memory), which lets any address family through, and it refuses the source's
# ERRNO socket rule next to any ALLOW socket rule ("file exists"). README.md has the test.
ARCHITECTURES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]
DEFAULT_ERRNO = 1  # EPERM, as Docker's default profile
ENOSYS = 38
EPERM = 1

# Removed from every ALLOW rule, so they fall to the default action (EPERM) unless an ERRNO
# rule of the source already names them. Reasons: README.md.
DENY = {
    # reading or writing another process's memory, comparing its kernel objects
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    # kernel keyrings: not namespaced
    "add_key", "request_key", "keyctl",
    # large kernel attack surface that no npm job needs
    "perf_event_open", "bpf", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register",
    # legacy AIO: its contexts count against one host-wide limit (fs.aio-max-nr), so one job
    # holding them all locks every other job and the host out (answered ENOSYS below)
    "io_setup", "io_submit", "io_getevents", "io_cancel", "io_destroy", "io_pgetevents",
    # mounts and namespaces (the old and the new mount API)
    "mount", "umount", "umount2", "pivot_root", "unshare", "setns", "fsconfig", "fsmount",
    "fsopen", "fspick", "mount_setattr", "move_mount", "open_tree",
    # modules, reboot, kexec, swap, accounting, quotas, kernel log
    "init_module", "finit_module", "delete_module", "reboot", "kexec_load", "kexec_file_load",
    "swapon", "swapoff", "acct", "quotactl", "syslog",
    # file handles bypass path-based checks (the 2014 "shocker" escape)
    "open_by_handle_at", "name_to_handle_at",
    # NUMA policy: Docker allows these only with CAP_SYS_NICE
    "get_mempolicy", "mbind", "set_mempolicy",
    # i386 socket multiplexer: it would bypass the socket() family filter (moot while
    # SCMP_ARCH_X86 is left out, kept so that adding it back does not reopen the hole)
    "socketcall",
    # not x86_64 syscalls: legacy i386 signal/readdir calls Docker does not allow either, and
    # names (syscall, timerfd) that exist on no x86 ABI
    "readdir", "sigaction", "signal", "sigpending", "sigsuspend", "syscall", "timerfd",
}

# Allowed only by the argument-filtered rules below or in the source, never unconditionally.
ARGS_ONLY = {"personality", "clone", "clone3", "socket"}

# clone() without any namespace flag: NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
CLONE_NAMESPACE_FLAGS = 0x02000000 | 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 \
    | 0x20000000 | 0x40000000

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
NETLINK_AUDIT = 9


def arg(index, op, value, value_two=0):
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


ADDED_RULES = [
    # glibc >= 2.34 tries clone3 first and falls back to clone only on ENOSYS; clone3 passes
    # its flags in memory, where seccomp cannot look, so it is refused outright.
    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
    # Legacy AIO as if the kernel had none (CONFIG_AIO=n): libaio's users fall back on ENOSYS.
    {"names": ["io_setup", "io_submit", "io_getevents", "io_cancel", "io_destroy",
               "io_pgetevents"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
    {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
     "args": [arg(0, "SCMP_CMP_MASKED_EQ", CLONE_NAMESPACE_FLAGS, 0)]},
    # socket(): the families node and npm use. AF_VSOCK (40) in particular reaches the host
    # whatever the network namespace; AF_NETLINK stays for getaddrinfo's route query, minus
    # the audit protocol, which the source's ERRNO rule answers with EINVAL.
    {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [arg(0, "SCMP_CMP_EQ", AF_UNIX)]},
    {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [arg(0, "SCMP_CMP_EQ", AF_INET)]},
    {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [arg(0, "SCMP_CMP_EQ", AF_INET6)]},
    {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
     "args": [arg(0, "SCMP_CMP_EQ", AF_NETLINK), arg(2, "SCMP_CMP_NE", NETLINK_AUDIT)]},
]


class ResolveError(Exception):
    pass


def parse_kernel(text):
    return tuple(int(part) for part in text.split(".")[:2])


def applies(rule):
    """Evaluates a rule's includes/excludes for our container, as Docker does."""
    inc = rule.get("includes") or {}
    exc = rule.get("excludes") or {}
    unknown = (set(inc) - {"arches", "caps", "minKernel"}) | (set(exc) - {"arches", "caps"})
    if unknown:
        raise ResolveError(f"unknown condition {sorted(unknown)} in rule {rule['names']}")
    if inc.get("arches") and not ARCH_NAMES & set(inc["arches"]):
        return False
    if inc.get("caps") and not set(inc["caps"]) <= CAPS:  # every listed cap must be held
        return False
    if inc.get("minKernel") and parse_kernel(inc["minKernel"]) > KERNEL:
        return False
    if ARCH_NAMES & set(exc.get("arches") or []):
        return False
    if CAPS & set(exc.get("caps") or []):  # any listed cap held excludes the rule
        return False
    return True


def convert(rule):
    """The rule in OCI runtime-spec form, stable key order."""
    out = {"names": sorted(set(rule["names"])), "action": rule["action"]}
    args = rule.get("args") or []
    if args:
        out["args"] = [arg(a["index"], a["op"], a["value"], a.get("valueTwo", 0)) for a in args]
    if "errnoRet" in rule:
        out["errnoRet"] = rule["errnoRet"]
    return out


def tighten(rules):
    """Applies DENY and ARGS_ONLY, replaces the socket ALLOW rules, merges and dedupes."""
    unconditional, others = set(), []
    for rule in rules:
        if rule["action"] != "SCMP_ACT_ALLOW":
            others.append(rule)
            continue
        names = set(rule["names"]) - DENY
        if "args" not in rule:
            unconditional |= names - ARGS_ONLY
        elif names - {"socket"}:  # the source's socket filters give way to ADDED_RULES
            others.append(dict(rule, names=sorted(names - {"socket"})))
    out = [{"names": sorted(unconditional), "action": "SCMP_ACT_ALLOW"}]
    for rule in others + ADDED_RULES:
        if rule not in out:
            out.append(rule)
    return out


def check(rules):
    """Fails on what libseccomp would refuse or what would reopen a denied call."""
    plain = {}
    for rule in rules:
        for name in rule["names"]:
            if rule["action"] == "SCMP_ACT_ALLOW" and name in DENY:
                raise ResolveError(f"{name} still allowed")
            if "args" not in rule:
                if plain.setdefault(name, rule["action"]) != rule["action"]:
                    raise ResolveError(f"{name} has two unconditional actions")
                if rule["action"] == "SCMP_ACT_ALLOW" and name in ARGS_ONLY:
                    raise ResolveError(f"{name} allowed without an argument filter")


def resolve(source):
    if source.get("defaultAction") != "SCMP_ACT_ERRNO":
        raise ResolveError(f"unexpected defaultAction {source.get('defaultAction')}")
    rules = [convert(r) for r in source["syscalls"] if applies(r)]
    rules = tighten(rules)
    check(rules)
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": DEFAULT_ERRNO,
        "architectures": ARCHITECTURES,
        "syscalls": rules,
    }


def render(profile):
    return json.dumps(profile, indent=2) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=DEFAULT_SOURCE)
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="'-' for stdout")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if --output differs from what would be written")
    opts = parser.parse_args()
    try:
        with open(opts.source, encoding="utf-8") as f:
            text = render(resolve(json.load(f)))
    except (OSError, ValueError, KeyError, ResolveError) as e:
        print(f"resolve.py: {e}", file=sys.stderr)
        return 2
    if opts.check:
        try:
            with open(opts.output, encoding="utf-8") as f:
                same = f.read() == text
        except OSError:
            same = False
        print(f"resolve.py: {opts.output} is {'up to date' if same else 'STALE'}",
              file=sys.stderr)
        return 0 if same else 1
    if opts.output == "-":
        sys.stdout.write(text)
    else:
        with open(opts.output, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
