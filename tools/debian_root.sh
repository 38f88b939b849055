#!/usr/bin/env bash
# Run the README's two commands in a fresh Debian root (default: Debian 13 "trixie"), no CI needed.
#
# The root is built once with debootstrap and cached under
#   ${XDG_CACHE_HOME:-$HOME/.cache}/pytest-syscall-sandbox/roots/SUITE
# Each run makes a fresh `git clone` of the repository into the root, checks out one commit
# (uncommitted changes are not included: commit them first), makes a venv there and runs
#   main:  python3 -m pip install -e . && python3 -m pytest fixtures --sandbox-mode=audit
#   tests: python3 -m pip install -e '.[test]' && python3 -m pytest [--pytest-args]
#
# Needs root (debootstrap, chroot, mount) on a Debian-like x86-64 host with apt, and network
# access to a Debian mirror and PyPI. One run per root at a time (a lock file says so).
# A chroot differs from a real Debian 13 machine in one way the suite sees: the kernel refuses
# user namespaces to a chrooted process (EPERM), so the test that needs them skips.
#
# Usage: tools/debian_root.sh [options]
#   --suite NAME        Debian suite: trixie (default), sid (unstable), bookworm, ...
#   --repo DIR          git repository or worktree to clone (default: the one holding this script)
#   --commit REV        commit to test (default: HEAD of --repo)
#   --only main|tests   run only the main job or only the test suite (default: both)
#   --pytest-args ARGS  extra arguments for the test run, parsed by bash (e.g. '-x -k lint')
#   --run CMD           instead of the README's commands: install '.[test]' and run CMD (bash)
#   --shared DIR        bind DIR read-only as ../shared beside the clone (the reference files)
#   --rebuild           throw the cached root away and build it again
# Environment: DEBIAN_MIRROR (optional mirror URL for debootstrap).
#
# Examples:
#   tools/debian_root.sh                                   # both commands on trixie
#   tools/debian_root.sh --suite sid --only tests --pytest-args '-x -q'
#   tools/debian_root.sh --repo /path/to/worktree --run 'python3 -m pytest tests/lint'
set -euo pipefail

die() { echo "debian_root: $*" >&2; exit 2; }

suite=trixie
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
commit=HEAD
only=
pytest_args=
run_cmd=
shared=
rebuild=0
while (($#)); do
    case $1 in
        --suite) suite=${2:?}; shift ;;
        --repo) repo=${2:?}; shift ;;
        --commit) commit=${2:?}; shift ;;
        --only) only=${2:?}; shift ;;
        --pytest-args) pytest_args=${2?}; shift ;;
        --run) run_cmd=${2:?}; shift ;;
        --shared) shared=$(cd "${2:?}" && pwd) || die "no directory $2"; shift ;;
        --rebuild) rebuild=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
    shift
done
case $only in ''|main|tests) ;; *) die "--only takes main or tests" ;; esac
[[ $suite =~ ^[a-z0-9-]+$ ]] || die "bad suite name: $suite"
((EUID == 0)) || die "must run as root (debootstrap, chroot and mount need it)"
repo=$(cd "$repo" && pwd) || die "no directory $repo"
sha=$(git -C "$repo" rev-parse --verify "$commit^{commit}") || die "no commit $commit in $repo"

cache=${XDG_CACHE_HOME:-$HOME/.cache}/pytest-syscall-sandbox/roots
root=$cache/$suite
mkdir -p "$cache"
exec 9>"$cache/$suite.lock"
flock -n 9 || die "another run is using $root"

# Mounts left by a run that was killed (we hold the lock, so none is in use): remove them first.
stale_mounts() { findmnt -rn -o TARGET | awk -v p="$root/" 'index($0, p) == 1' | sort -r; }
while IFS= read -r path; do umount -l "$path"; done < <(stale_mounts)
[[ -z $(stale_mounts) ]] || die "cannot unmount what is mounted under $root"

# Everything mounted into the root, unmounted in reverse order on any exit.
mounted=()
# shellcheck disable=SC2317  # called by the trap
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" || true
    done
}
trap cleanup EXIT
bind() {  # bind SRC [ro]: mount host path SRC at the same path inside the root
    mkdir -p "$root$1"
    mount --bind "$1" "$root$1"
    mounted+=("$root$1")
    if [[ ${2:-} == ro ]]; then mount -o remount,bind,ro "$root$1"; fi
}

# Build the root once (into a temporary directory, so a failed build is never cached).
if ((rebuild)) || [[ ! -x $root/usr/bin/python3 ]]; then
    if ! command -v debootstrap >/dev/null; then
        apt-get update -qq && apt-get install -y -qq debootstrap
    fi
    rm -rf --one-file-system "$root" "$root.new"
    # shellcheck disable=SC2086  # DEBIAN_MIRROR is one word or none
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,git,ca-certificates \
        "$suite" "$root.new" ${DEBIAN_MIRROR:-}
    mv "$root.new" "$root"
fi

bind /proc
bind /sys
bind /dev
bind /dev/pts
if mountpoint -q /dev/shm; then bind /dev/shm; fi
# Network, CA certificates and pip settings of the host, so apt and pip work inside.
cp /etc/resolv.conf "$root/etc/resolv.conf"
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
fi
copy() {  # copy SRC DST: a host file or directory to DST inside the root, replacing it
    rm -rf "${root:?}$2" && mkdir -p "$(dirname "$root$2")" && cp -r "$1" "$root$2"
}
if [[ -f /etc/pip.conf ]]; then copy /etc/pip.conf /etc/pip.conf; fi
if [[ -d /etc/xdg/pip ]]; then copy /etc/xdg/pip /etc/xdg/pip; fi
user_pip=${XDG_CONFIG_HOME:-$HOME/.config}/pip/pip.conf  # the caller's; HOME is /root inside
if [[ -f $user_pip ]]; then copy "$user_pip" /root/.config/pip/pip.conf; fi
if [[ -f $HOME/.pip/pip.conf ]]; then copy "$HOME/.pip/pip.conf" /root/.pip/pip.conf; fi
for dir in /opt/wheels /opt/pypi /opt/pypi-more; do  # local wheel dirs the pip settings name
    if [[ -d $dir ]]; then bind "$dir" ro; fi
done
base_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
env_args=(HOME=/root LANG=C.UTF-8 "PATH=$base_path")
while IFS= read -r name; do env_args+=("$name=${!name}"); done < <(compgen -e | grep -E '^(PIP_|CI$)' || true)
in_root() { chroot "$root" /usr/bin/env -i "${env_args[@]}" "$@"; }

echo "root: $root ($(cat "$root/etc/debian_version"))"
in_root python3 -c 'import os, sys; print("glibc", os.confstr("CS_GNU_LIBC_VERSION").split()[1]); print("Python", sys.version.split()[0])'

# libseccomp is the tests' independent oracle; install it the way .ci/run does.
if ! in_root ldconfig -p | grep 'libseccomp\.so\.2' >/dev/null; then
    in_root sh -c 'apt-get update -qq && apt-get install -y -qq libseccomp2'
fi

# A fresh clone of the wanted commit (fetched by id, so any commit of --repo works).
src=/build/src
rm -rf --one-file-system "$root/build"
mkdir -p "$root/build"
git clone -q --no-checkout "$repo" "$root$src"
git -C "$root$src" fetch -q "$repo" "$sha"
git -C "$root$src" -c advice.detachedHead=false checkout -q --detach "$sha"
echo "commit: $(git -C "$root$src" log -1 --format='%h %s')"
if [[ -n $shared ]]; then
    mkdir -p "$root/build/shared"
    mount --bind "$shared" "$root/build/shared" && mounted+=("$root/build/shared")
    mount -o remount,bind,ro "$root/build/shared"
fi
in_root python3 -m venv /build/venv
env_args+=("PATH=/build/venv/bin:$base_path" VIRTUAL_ENV=/build/venv)  # env: the last PATH wins

step() {  # step NAME SCRIPT: run SCRIPT with bash in the clone; report, never abort
    echo "=== $1: $2"
    local rc=0
    in_root bash -c "cd $src && $2" || rc=$?
    echo "=== $1: exit $rc"
    return "$rc"
}
rc=0
if [[ -n $run_cmd ]]; then
    step run "python3 -m pip install -q -e '.[test]' && $run_cmd" || rc=$?
else
    if [[ $only != tests ]]; then
        step main "python3 -m pip install -e . && python3 -m pytest fixtures --sandbox-mode=audit" || rc=$?
    fi
    if [[ $only != main ]]; then
        step tests "python3 -m pip install -e '.[test]' && python3 -m pytest $pytest_args" || rc=$?
    fi
fi
exit "$rc"
