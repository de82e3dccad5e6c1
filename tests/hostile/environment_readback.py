# A hostile file reading back the environment its process was started with: os.environ,
# libc's environ, /proc/self/environ, and the raw stack above __libc_stack_end (where the
# kernel put the original environment block), read with process_vm_readv so that a bad
# address is an error rather than a crash. It prints LEAK if the secret shows anywhere.
import ctypes
import os

SECRET = b"bpdrill-test-secret-4f1c"


def _stack() -> bytes:
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        start = ctypes.c_void_p.in_dll(libc, "__libc_stack_end").value
    except ValueError:
        return b""

    class IoVec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    chunks, address = [], start & ~4095
    buffer = ctypes.create_string_buffer(4096)
    for _ in range(4096):  # at most 16 MB above it
        local, remote = IoVec(ctypes.addressof(buffer), 4096), IoVec(address, 4096)
        if libc.process_vm_readv(os.getpid(), ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) != 4096:
            break
        chunks.append(buffer.raw)
        address += 4096
    return b"".join(chunks)


def _libc_environ() -> bytes:
    libc = ctypes.CDLL(None)
    environ = ctypes.POINTER(ctypes.c_char_p).in_dll(libc, "environ")
    out, i = [], 0
    while environ[i] is not None and i < 10000:
        out.append(environ[i])
        i += 1
    return b"\n".join(out)


def _proc() -> bytes:
    try:
        with open("/proc/self/environ", "rb") as f:
            return f.read()
    except OSError:
        return b""


seen = {"os.environ": repr(dict(os.environ)).encode(), "libc": _libc_environ(), "proc": _proc(),
        "stack": _stack()}
print("SEARCHED", len(seen["stack"]) > 0, *["LEAK " + name for name, data in seen.items() if SECRET in data])
