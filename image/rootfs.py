#!/usr/bin/env python3
"""Writes the server image's base root filesystem as one reproducible tar from Debian packages (.deb files).

What the Java runtime and the natives need and nothing else: glibc (the JVM, DJL's tokenizers library, the
javacpp CUDA bindings), libgcc_s and libstdc++ (the tokenizers library is Rust with C++ parts), dash for the
entrypoint script, /etc/os-release from base-files; a non-root user, /tmp, the cache directory and dpkg status
records so that image scanners see which Debian packages (and versions) are inside.

    rootfs.py --output rootfs.tar --epoch SECONDS --uid 10001 PACKAGE.deb ...

Every entry is owned by root (the user's home and the cache by --uid), stamped with --epoch and written in
path order: the same .deb files give the same bytes.
"""
import argparse
import io
import lzma
import posixpath
import tarfile
import zlib  # noqa: F401  (tarfile's gzip support)

SKIP_PREFIXES = ("usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/locale/",
                 "usr/share/lintian/", "usr/share/gdb/", "usr/share/gcc/", "usr/share/menu/",
                 "usr/share/debianutils/",
                 # iconv's converters: nothing in the image calls iconv (the JVM has its own charsets).
                 "usr/lib/x86_64-linux-gnu/gconv/")
# Packages of which only these paths are taken (and which then get no dpkg status record).
ONLY = {"base-files": {"usr/lib/os-release", "etc/os-release"}}


def ar_members(data):
    """The members of a Debian package's ar archive, by name."""
    if not data.startswith(b"!<arch>\n"):
        raise SystemExit("not a Debian package (no ar header)")
    pos, out = 8, {}
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        out[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
    return out


def open_member(members, stem):
    for name, blob in members.items():
        if name.startswith(stem + "."):
            if name.endswith(".zst"):
                raise SystemExit(f"{stem}: zstd-compressed packages are not supported by this script")
            return tarfile.open(fileobj=io.BytesIO(blob), mode="r:*")
    raise SystemExit(f"no {stem}.tar.* in the package")


def control_fields(members):
    with open_member(members, "control") as tar:
        for info in tar.getmembers():
            if posixpath.normpath(info.name) == "control":
                return tar.extractfile(info).read().decode()
    raise SystemExit("no control file in the package")


def relative(name, deb):
    """A package member's path without its leading "./" (empty for the root), refusing ".." and absolute paths."""
    path = name[2:] if name.startswith("./") else name
    path = posixpath.normpath(path) if path else "."
    if path == ".":
        return ""
    if path.startswith("/") or path == ".." or path.startswith("../"):
        raise SystemExit(f"{deb}: member {name!r} is outside the root")
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", required=True)
    parser.add_argument("--epoch", type=int, required=True)
    parser.add_argument("--uid", type=int, default=10001)
    parser.add_argument("--user", default="trtllm")
    parser.add_argument("--cache-dir", default="var/cache/trtllm")
    parser.add_argument("debs", nargs="+")
    args = parser.parse_args()

    entries = {}  # path -> (TarInfo, bytes or None)

    def add(info, data=None):
        info.name = info.name.strip("/")
        info.mtime = args.epoch
        info.uname = info.gname = ""
        if info.isdir() and info.name in entries:
            return  # a directory several packages ship: the first one's
        entries[info.name] = (info, data)

    def add_dir(path, mode=0o755, uid=0):
        info = tarfile.TarInfo(path)
        info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
        entries.pop(path, None)
        add(info)

    def add_file(path, text, mode=0o644):
        data = text.encode()
        info = tarfile.TarInfo(path)
        info.size, info.mode = len(data), mode
        add(info, data)

    for deb in sorted(args.debs):
        with open(deb, "rb") as f:
            members = ar_members(f.read())
        control = control_fields(members)
        package = next(l.split(":", 1)[1].strip() for l in control.splitlines() if l.startswith("Package:"))
        only = ONLY.get(package)
        with open_member(members, "data") as tar:
            for info in tar.getmembers():
                path = relative(info.name, deb)
                if not path or any((path + "/").startswith(p) or path.startswith(p) for p in SKIP_PREFIXES):
                    continue
                if only is not None and path not in only:
                    continue
                if not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
                    raise SystemExit(f"{deb}: {info.name} is neither a file, a directory nor a link")
                data = tar.extractfile(info).read() if info.isreg() else None
                if info.islnk():
                    info.linkname = relative(info.linkname, deb)
                info.name, info.uid, info.gid = path, 0, 0
                add(info, data)
        if only is None:
            # dpkg's "status.d" layout (one record per package), which image scanners read.
            add_file(f"var/lib/dpkg/status.d/{package}", control.rstrip("\n") + "\nStatus: install ok installed\n")

    uid, user = args.uid, args.user
    add_file("etc/passwd", f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                           f"{user}:x:{uid}:{uid}:{user}:/home/{user}:/usr/sbin/nologin\n")
    add_file("etc/group", f"root:x:0:\n{user}:x:{uid}:\n")
    add_file("etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n")
    add_dir("tmp", 0o1777)
    add_dir("root", 0o700)
    add_dir(f"home/{user}", 0o755, uid)
    add_dir(args.cache_dir, 0o755, uid)

    # Every parent directory present, root-owned, before its children.
    for path in list(entries):
        parent = posixpath.dirname(path)
        while parent and parent not in entries:
            add_dir(parent)
            parent = posixpath.dirname(parent)

    with tarfile.open(args.output, "w", format=tarfile.PAX_FORMAT) as out:
        for path in sorted(entries):
            info, data = entries[path]
            out.addfile(info, io.BytesIO(data) if data is not None else None)


if __name__ == "__main__":
    main()
