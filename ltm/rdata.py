"""A small reader of R's serialization format, for data shipped inside R packages.

Why: `ltm shelf` takes Jane Austen's novels from Debian's r-cran-janeaustenr, where they are
stored the way R stores a package's data: a lazy-load database (`data/Rdata.rdx` +
`Rdata.rdb`). Installing R to read six character vectors would be absurd, and the format is
small and documented (R Internals, "Serialization formats"; src/main/serialize.c).

What it reads:
- `.rds` files: one serialized object, gzip/bzip2/xz-compressed or not.
- lazy-load databases: the `.rdx` is an rds of `list(variables=, references=, compressed=)`,
  where each variable is `c(offset, length)` into the `.rdb`; the `.rdb` entry at that place
  is a 4-byte big-endian uncompressed length followed by zlib data (compressed = 1), or by a
  type byte and bzip2/xz/stored data (compressed = 2 or 3), of one serialized object.
- serialized objects in XDR form (`X\\n`, versions 2 and 3): NULL, symbols, pairlists,
  logical/integer/double/complex/character/raw vectors, lists, references to symbols
  already read, attributes, and the ALTREP forms R >= 3.5 writes for plain vectors
  (compact sequences, wrappers, deferred strings).

Values come back as `RVector` (a list with `rtype` and `attributes`); NA is None (NaN for
doubles). Closures, environments, bytecode and external pointers are not data: reading one
is a one-line `RDataError` naming the file.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math
import struct
import zlib
from pathlib import Path

from .errors import LtmError

NA_INTEGER = -(2 ** 31)
_TYPES = {0: "NULL", 1: "symbol", 2: "pairlist", 3: "closure", 4: "environment", 5: "promise", 6: "language",
          7: "special", 8: "builtin", 9: "char", 10: "logical", 13: "integer", 14: "double", 15: "complex",
          16: "character", 17: "...", 19: "list", 20: "expression", 21: "bytecode", 22: "externalptr",
          23: "weakref", 24: "raw", 25: "S4"}
_NULL, _REF, _ALTREP = 254, 255, 238
_SPECIAL_NULLS = {254, 253, 252, 251, 250, 242, 241}  # NULL, global/base/empty env, unbound, missing: no data


class RDataError(LtmError):
    """An R file ltm cannot read: truncated, corrupt, or holding code rather than data."""


class RVector(list):
    """An R vector or list: its elements, its R type and its attributes (names, class, …)."""

    def __init__(self, items=(), rtype: str = "list", attributes: dict | None = None):
        super().__init__(items)
        self.rtype = rtype
        self.attributes = attributes or {}

    @property
    def names(self) -> list | None:
        return self.attributes.get("names")


class Symbol(str):
    """An R symbol (a name), kept apart from a character string."""


class _Reader:
    def __init__(self, data: bytes, source: str):
        self.data, self.pos, self.source = data, 0, source
        self.refs: list = []

    def fail(self, why: str, fix: str = "the file is damaged; fetch it again"):
        raise RDataError(f"{self.source}: {why} — {fix}")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            self.fail(f"truncated at byte {self.pos} (wanted {n} more of {len(self.data)})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def length(self) -> int:
        n = self.int()
        if n == -1:  # a long vector: the length follows as two 32-bit halves
            upper, lower = struct.unpack(">II", self.take(8))
            n = (upper << 32) + lower
        if n < 0:
            self.fail(f"negative length {n}")
        return n

    def item(self):
        flags = self.int()
        sexptype, levels = flags & 0xFF, flags >> 12
        has_attr, has_tag = bool(flags & (1 << 9)), bool(flags & (1 << 10))
        if sexptype in _SPECIAL_NULLS:
            return None
        if sexptype == _REF:
            index = flags >> 8 or self.int()
            if not 0 < index <= len(self.refs):
                self.fail(f"reference {index} to an object not read yet")
            return self.refs[index - 1]
        if sexptype == 1:  # symbol: its name, remembered for later references
            symbol = Symbol(self.item() or "")
            self.refs.append(symbol)
            return symbol
        if sexptype == _ALTREP:
            return self.altrep()
        if sexptype in (2, 6):  # pairlist / call: attributes, tag, head, tail
            attributes = self.item() if has_attr else None
            tag = self.item() if has_tag else None
            head = self.item()
            tail = self.item()
            cells = [(tag, head)] + (tail.cells if isinstance(tail, _Pairlist) else [])
            return _Pairlist(cells, attributes)
        if sexptype == 9:  # CHARSXP: bytes, or NA
            n = self.int()
            if n == -1:
                return None
            raw = self.take(n)
            return raw.decode("latin-1") if levels & 4 else raw.decode("utf-8", errors="replace")
        if sexptype in (10, 13):
            n = self.length()
            values = struct.unpack(f">{n}i", self.take(4 * n))
            values = [None if v == NA_INTEGER else (bool(v) if sexptype == 10 else v) for v in values]
        elif sexptype == 14:
            n = self.length()
            values = list(struct.unpack(f">{n}d", self.take(8 * n)))
        elif sexptype == 15:
            n = self.length()
            parts = struct.unpack(f">{2 * n}d", self.take(16 * n))
            values = [complex(parts[i], parts[i + 1]) for i in range(0, 2 * n, 2)]
        elif sexptype == 16:
            values = [self.item() for _ in range(self.length())]
        elif sexptype in (19, 20):
            values = [self.item() for _ in range(self.length())]
        elif sexptype == 24:
            values = list(self.take(self.length()))
        elif sexptype == 25:  # S4 object: all its content is in the attributes
            values = []
        else:
            self.fail(f"an R {_TYPES.get(sexptype, f'type {sexptype}')} object at byte {self.pos - 4}",
                      "ltm reads data (vectors and lists), not code or environments")
        vector = RVector(values, _TYPES[sexptype])
        if has_attr:
            vector.attributes = _attributes(self.item())
        return vector

    def altrep(self):
        """ALTREP: (class, package, type) info, then the state, then the attributes."""
        info = self.item()
        state = self.item()
        attributes = _attributes(self.item())
        kind = str(info.cells[0][1]) if isinstance(info, _Pairlist) and info.cells else "?"
        if kind == "compact_intseq":
            n, start, step = (int(v) for v in state)
            vector = RVector([start + i * step for i in range(n)], "integer")
        elif kind == "compact_realseq":
            n, start, step = state
            vector = RVector([start + i * step for i in range(int(n))], "double")
        elif kind.startswith("wrap_"):  # a wrapper around an ordinary vector: state = list(x, meta)
            vector = RVector(state[0], state[0].rtype, dict(state[0].attributes))
        elif kind == "deferred_string":  # numbers to be turned into strings: state = pairlist(x, …)
            numbers = state.cells[0][1] if isinstance(state, _Pairlist) else state
            vector = RVector([None if v is None or (isinstance(v, float) and math.isnan(v))
                              else str(v) if isinstance(v, int) else f"{v:.15g}" for v in numbers], "character")
        else:
            self.fail(f"an ALTREP object of class {kind!r}", "ltm reads R's own compact, wrapper and deferred-string forms")
        vector.attributes.update(attributes)
        return vector


class _Pairlist:
    def __init__(self, cells: list, attributes=None):
        self.cells = cells  # [(tag, value), …]
        self.attributes = attributes


def _attributes(pairlist) -> dict:
    if not isinstance(pairlist, _Pairlist):
        return {}
    return {str(tag): value for tag, value in pairlist.cells}


def unserialize(data: bytes, source: str = "<bytes>"):
    """The R object serialized in `data` (uncompressed, XDR form, as `serialize()` writes it)."""
    reader = _Reader(bytes(data), source)
    if data[:2] != b"X\n":
        what = "an ASCII or native-binary R serialization" if data[:2] in (b"A\n", b"B\n") else "not an R serialization"
        raise RDataError(f"{source}: {what} (ltm reads R's default XDR form) — save it with saveRDS() defaults")
    reader.pos = 2
    version = reader.int()
    reader.take(8)  # the R version that wrote it and the oldest that can read it
    if version == 3:
        reader.take(reader.int())  # the writer's native encoding; strings carry their own
    elif version != 2:
        raise RDataError(f"{source}: R serialization version {version} (ltm reads versions 2 and 3)")
    return reader.item()


def decompress(data: bytes, source: str) -> bytes:
    """An rds file's bytes uncompressed, whichever compression saveRDS() used."""
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if data[:3] == b"BZh":
            return bz2.decompress(data)
        if data[:6] == b"\xfd7zXZ\x00":
            return lzma.decompress(data)
    except (OSError, EOFError, ValueError, lzma.LZMAError) as exc:
        raise RDataError(f"{source}: cannot uncompress ({exc}) — the file is damaged; fetch it again") from exc
    return data


def read_rds(path: Path):
    """The object in an .rds file (what R's readRDS() returns)."""
    path = Path(path)
    return unserialize(decompress(path.read_bytes(), str(path)), str(path))


class LazyLoadDB:
    """A lazy-load database (`X.rdx` + `X.rdb`): objects by name, each read only when asked for."""

    def __init__(self, rdx: Path):
        self.rdx = Path(rdx)
        self.rdb = self.rdx.with_suffix(".rdb")
        index = read_rds(self.rdx)
        if not isinstance(index, RVector) or index.names is None or "variables" not in index.names:
            raise RDataError(f"{self.rdx}: not a lazy-load index (no 'variables') — check the file")
        variables = index[index.names.index("variables")]
        compressed = index[index.names.index("compressed")] if "compressed" in index.names else [True]
        self.compression = int(compressed[0]) if compressed else 1
        names = variables.names if isinstance(variables, RVector) and variables.names is not None else []
        if len(names) != len(variables) or any(len(v) != 2 for v in variables):
            raise RDataError(f"{self.rdx}: its 'variables' are not named (offset, length) pairs — check the file")
        self._where = {name: (int(v[0]), int(v[1])) for name, v in zip(names, variables, strict=True)}

    @property
    def names(self) -> list[str]:
        return list(self._where)

    def load(self, name: str):
        if name not in self._where:
            raise RDataError(f"{self.rdx}: no object {name!r} (it holds {', '.join(self._where)})")
        offset, length = self._where[name]
        with open(self.rdb, "rb") as handle:
            handle.seek(offset)
            entry = handle.read(length)
        where = f"{self.rdb} ({name})"
        if len(entry) != length or length < 5:
            raise RDataError(f"{where}: truncated ({len(entry)} of {length} bytes) — fetch the package again")
        size = struct.unpack(">I", entry[:4])[0]
        try:
            if self.compression == 1:
                raw = zlib.decompress(entry[4:])
            else:  # 2, 3: a type byte says how this entry was stored
                kind, body = entry[4:5], entry[5:]
                raw = {b"Z": lzma.decompress, b"2": bz2.decompress, b"1": zlib.decompress,
                       b"0": bytes}.get(kind, lambda _: b"")(body)
        except (zlib.error, OSError, ValueError, lzma.LZMAError) as exc:
            raise RDataError(f"{where}: cannot uncompress ({exc}) — fetch the package again") from exc
        if len(raw) != size:
            raise RDataError(f"{where}: {len(raw)} bytes uncompressed, the entry says {size} — fetch the package again")
        return unserialize(raw, where)
