#!/usr/bin/env python3
"""Generate the expected-value tables of tests/check_mode.c and
tests/check_textio.c from what CPython itself does.

    python3 tests/gen_text_vectors.py mode     # print the mode table
    python3 tests/gen_text_vectors.py text     # print the textio tables
    python3 tests/gen_text_vectors.py --splice # rewrite both files in place

The tables live between "BEGIN GENERATED" and "END GENERATED" lines.  Every
expectation is produced by running the real thing: open() for modes, and
io.TextIOWrapper over io.BytesIO for decoding, readline(), tell() and
writing.  Run with the Python the daemon must match (3.11).
"""

import io
import itertools
import os
import sys
import tempfile

NEWLINES = [
    (0, None, "NULL"),
    (1, "", '""'),
    (1, "\n", '"\\n"'),
    (1, "\r", '"\\r"'),
    (1, "\r\n", '"\\r\\n"'),
]
LIMITS = [-1, 1, 2, 3, 5]


def cstr(b):
    """Return bytes b as a C string literal, split over lines."""
    out, cur = [], ""
    for x in b:
        if 0x20 <= x < 0x7F and chr(x) not in '"\\?':
            cur += chr(x)
        else:
            cur += "\\%03o" % x
        if len(cur) >= 56:
            out.append('"' + cur + '"')
            cur = ""
    if cur or not out:
        out.append('"' + cur + '"')
    return "\n\t    ".join(out)


def copt(s):
    return "NULL" if s is None else cstr(s.encode())


def gen_mode():
    valid = []
    alphabet = "rwxab+tU"
    cands = [""]
    for n in range(1, 4):
        cands += ["".join(p) for p in itertools.product(alphabet, repeat=n)]
    cands += ["r+b+", "rb+t", "rwb+", "y", "R", "r ", " r", "rB", "r\t",
              "ab+x", "rbU", "+a+", "rb\n", "\xe9"]
    d = tempfile.mkdtemp()
    f = os.path.join(d, "f")
    rows = []
    for m in cands:
        if "x" in m:
            if os.path.exists(f):
                os.unlink(f)
        else:
            open(f, "a").close()
        try:
            fp = open(f, m)
            canon = fp.mode
            fp.close()
        except ValueError:
            canon = None
        rows.append((m, canon))
    if os.path.exists(f):
        os.unlink(f)
    os.rmdir(d)
    print("/* %d candidates, %d valid (python %s). */" %
          (len(rows), sum(1 for r in rows if r[1] is not None),
           sys.version.split()[0]))
    print("static const struct mvec mode_vectors[] = {")
    for m, canon in rows:
        print("\t{ %s, %s }," % (cstr(m.encode()), copt(canon)))
    print("};")


# (encoding, errors, newline-indexes, data)
DECODE = []


def dv(enc, errors, data, nls=(0,)):
    DECODE.append((enc, errors, nls, data))


ALL_NL = (0, 1, 2, 3, 4)
dv(None, None, b"", ALL_NL)
dv(None, None, b"hello\nworld\n", ALL_NL)
dv(None, None, b"no newline at end")
dv("utf-8", None, "a\u00e9\u20ac\U0001d11eb\n\u20ac\n".encode(), ALL_NL)
dv(None, None, "\u00e9\u00e9\r\n\U0001f600\r\u20ac".encode(), ALL_NL)
dv(None, None, b"a\r\nb\rc\nd\r", ALL_NL)
dv(None, None, b"\r\n\r\n\r\r\n\n\r", ALL_NL)
dv(None, None, b"line1\r\nline2\r\nx", ALL_NL)
dv(None, None, b"ab\r", ALL_NL)
dv(None, None, b"\r", ALL_NL)
dv(None, None, b"a\x00b\n\x00", (0, 2))
dv("utf8", "strict", b"ab\xc0\xafcd")
for errors in ("strict", "replace", "ignore"):
    for data in (b"ab\xc0\xafcd", b"ab\xe2\x82", b"a\x80b", b"a\xed\xa0\x80b",
                 b"\xf4\x90\x80\x80z", b"\xf0\x9f\x98\r\n", b"\xff\xfeab\n",
                 b"x\xe2\x82\xe2\x82\xacy", b"\xe0\x80\x80\xf8\xc2",
                 b"ok\xc3\r\n\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf0\x9f"):
        dv(None, errors, data, (0, 1))
dv(None, "replace", b"\xe2\x82\r\n\r", ALL_NL)
dv("latin-1", None, b"caf\xe9\r\n\xff\xa0end\n\x80", ALL_NL)
dv("latin1", "strict", bytes(range(256)))
dv("iso-8859-15", None, b"\xa4 \xbd\xbe\n")
dv("cp1252", "replace", b"\x80\x81abc\x9d\r\n")
dv("cp1252", "ignore", b"\x81\x80\x81abc\x9d\r\nz")
dv("cp1252", "strict", b"ab\x81c")
dv("ascii", "replace", b"abc\xffdef\xe9\n")
dv("ascii", "strict", b"abc\xffdef\n")
dv("utf-16-le", None, "a\u00e9\u20ac\U0001d11e\r\nb\n\rc".encode("utf-16-le"),
   ALL_NL)
dv("utf-16-be", None, "x\U0001f600y\r\n".encode("utf-16-be"), (0, 1))
for errors in ("strict", "replace", "ignore"):
    for data in (b"a\x00\x00\xd8b\x00", b"a\x00\x00\xdcb\x00", b"a\x00b",
                 b"a\x00\x00\xd8b", b"\x00\xd8\x00\xd8\x00\xdc\n\x00"):
        dv("utf-16-le", errors, data)
dv("utf-32-le", "replace", "a\U0001f600".encode("utf-32-le") +
   b"\x00\x00\x11\x00" + b"b\x00\x00\x00" + b"\x00\xd8\x00\x00c\x00")
dv(None, None, ("\u20ac" * 30 + "\r\n" + "x" * 90 + "\r").encode() * 2,
   (0, 1))
dv("latin-1", None, b"\xe9" * 300 + b"\r\n\r" + b"y" * 20, (0,))


def dec_wrap(enc, errors, nl, data):
    return io.TextIOWrapper(io.BytesIO(data), encoding=enc, errors=errors,
                            newline=nl)


def dec_expect(enc, errors, nl, data):
    try:
        alltext = dec_wrap(enc, errors, nl, data).read()
    except UnicodeDecodeError:
        return None
    lines = []
    for limit in LIMITS:
        f = dec_wrap(enc, errors, nl, data)
        seq = []
        while True:
            s = f.readline(limit)
            if s == "":
                break
            seq.append(s.encode())
        lines.append(seq)
    tells = []
    if errors == "ignore":
        # Python's tell() places dropped bytes by a heuristic guess
        # (b2cratio, from the size of the last chunk read), so any clean
        # position is as right as its; check_textio.c tests the property
        # that matters instead: seek(tell()) then read() gives the rest.
        return alltext.encode(), lines, [-1] * (len(alltext) + 2)
    for k in range(len(alltext) + 2):
        f = dec_wrap(enc, errors, nl, data)
        f.read(k)
        c = f.tell()
        tells.append(c if c < 2 ** 63 else -1)
    return alltext.encode(), lines, tells


ENCODE = []


def ev(enc, errors, text, nls=(0,)):
    ENCODE.append((enc, errors, nls, text))


ev(None, None, "a\nb\r\nc\r\n\n", ALL_NL)
ev(None, None, "")
ev(None, None, "a\u00e9\u20ac\U0001d11e\n", (0, 4))
for errors in ("strict", "replace", "ignore"):
    ev("latin-1", errors, "a\u00e9\u20ac\U0001d11e\n", (0, 3))
    ev(None, errors, "a\ud800b\udfffc\n")
    ev("latin-1", errors, "x\ud800y")
    ev("ascii", errors, "na\u00efve \u20ac\n")
ev("utf-16-le", None, "a\u00e9\u20ac\U0001d11e\n", (0, 4))
ev("utf-16-le", "replace", "a\udc00b")
ev("utf-32-be", None, "\U0001f600\n", (3,))
ev("cp1252", "strict", "\u20ac\u2026 \u00e9\n", (4,))
ev("iso-8859-15", "replace", "\u20ac\u00a4\n")


def enc_expect(enc, errors, nl, text):
    b = io.BytesIO()
    f = io.TextIOWrapper(b, encoding=enc, errors=errors, newline=nl)
    try:
        f.write(text)
        f.flush()
    except UnicodeEncodeError:
        return None
    return b.getvalue()


def clist(ctype, name, seq):
    """Print a static C array, wrapped to 80 columns."""
    vals = [str(x) for x in seq] if seq else ["0"]
    line = "static const %s %s[] = {" % (ctype, name)
    out = []
    for v in vals:
        if len(line.expandtabs()) + len(v) + 4 > 80:
            out.append(line)
            line = "\t"
        line += " " + v + ","
    out.append(line[:-1] + " };")
    print("\n".join(out))


def gen_text():
    print("/* python %s */" % sys.version.split()[0])
    rows = []
    for enc, errors, nls, data in DECODE:
        for i in nls:
            nlset, nl, cnl = NEWLINES[i]
            r = dec_expect(enc, errors, nl, data)
            rows.append((enc, errors, nlset, cnl, data, r))
    for n, (enc, errors, nlset, cnl, data, r) in enumerate(rows):
        if r is None:
            continue
        alltext, lines, tells = r
        for j, seq in enumerate(lines):
            clist("size_t", "dv%d_l%d" % (n, j), [len(s) for s in seq])
        clist("int64_t", "dv%d_t" % n, tells)
    print("static const struct dvec decode_vectors[] = {")
    for n, (enc, errors, nlset, cnl, data, r) in enumerate(rows):
        print("\t{ %s, %s, %d, %s," % (copt(enc), copt(errors), nlset, cnl))
        print("\t    %s, %d," % (cstr(data), len(data)))
        if r is None:
            print("\t    1, NULL, 0, { NULL }, { NULL }, { 0 }, NULL, 0 },")
            continue
        alltext, lines, tells = r
        print("\t    0, %s, %d," % (cstr(alltext), len(alltext)))
        print("\t    { %s }," % ",\n\t      ".join(
            cstr(b"".join(seq)) for seq in lines))
        print("\t    { %s }," % ", ".join(
            "dv%d_l%d" % (n, j) for j in range(len(lines))))
        print("\t    { %s }," % ", ".join(str(len(seq)) for seq in lines))
        print("\t    dv%d_t, %d }," % (n, len(tells)))
    print("};")

    print("static const struct evec encode_vectors[] = {")
    for enc, errors, nls, text in ENCODE:
        for i in nls:
            nlset, nl, cnl = NEWLINES[i]
            out = enc_expect(enc, errors, nl, text)
            src = text.encode("utf-8", "surrogatepass")
            print("\t{ %s, %s, %d, %s," % (copt(enc), copt(errors), nlset,
                                            cnl))
            print("\t    %s, %d," % (cstr(src), len(src)))
            if out is None:
                print("\t    1, NULL, 0 },")
            else:
                print("\t    0, %s, %d }," % (cstr(out), len(out)))
    print("};")

    print("static const struct nvec name_vectors[] = {")
    for name in (None, "utf-8", "UTF-8", "utf8", "U8", "latin-1",
                 "latin_1", "L1", "iso8859_15", "cp1252", "ascii",
                 "utf_16_le", "UTF-16BE", "locale", "koi8_r", "euc_jp",
                 "no-such-codec", "utf-8-x"):
        try:
            f = io.TextIOWrapper(io.BytesIO(), encoding=name)
            got = f.encoding
        except LookupError:
            got = None
        print("\t{ %s, %s }," % (copt(name), copt(got)))
    print("};")


def splice(path, text):
    with open(path) as fp:
        src = fp.read()
    begin = src.index("/* BEGIN GENERATED")
    begin = src.index("\n", begin) + 1
    end = src.index("/* END GENERATED")
    with open(path, "w") as fp:
        fp.write(src[:begin] + text + src[end:])


def capture(fn):
    old, sys.stdout = sys.stdout, io.StringIO()
    try:
        fn()
        return sys.stdout.getvalue()
    finally:
        sys.stdout = old


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "mode":
        gen_mode()
    elif what == "text":
        gen_text()
    elif what == "--splice":
        here = os.path.dirname(os.path.abspath(__file__))
        splice(os.path.join(here, "check_mode.c"), capture(gen_mode))
        splice(os.path.join(here, "check_textio.c"), capture(gen_text))
    else:
        sys.exit("usage: gen_text_vectors.py mode | text | --splice")


if __name__ == "__main__":
    main()
