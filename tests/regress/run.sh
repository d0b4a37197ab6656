#!/bin/sh
#
# run.sh - end-to-end tests of aiofs(1) against a private aiofsd.
#
# usage: run.sh AIOFSD AIOFS
#
# Starts aiofsd on a socket in a fresh temporary directory, with its own
# root, runs every aiofs command there (plain and --json output, exit
# statuses, error messages, confinement), then stops the daemon with
# SIGTERM and checks it exits 0 and removes its socket.  Ends with the
# line "N passed, M failed"; the exit status is non-zero if any failed.
# Outputs are compared with exact expected strings; python3, where it is
# installed, also checks at the end that every --json output parses.

set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 AIOFSD AIOFS" >&2
	exit 2
fi
case $1 in /*) AIOFSD=$1 ;; *) AIOFSD=$PWD/$1 ;; esac
case $2 in /*) AIOFS=$2 ;; *) AIOFS=$PWD/$2 ;; esac
for f in "$AIOFSD" "$AIOFS"; do
	if [ ! -x "$f" ]; then
		echo "$0: $f: not an executable" >&2
		exit 2
	fi
done

umask 022
dir=$(mktemp -d "${TMPDIR:-/tmp}/aiofs-regress.XXXXXX") || exit 1
root=$dir/root
sock=$dir/sock
mkdir "$root"
: >"$dir/json"
pid=
passed=0
failed=0
if command -v python3 >/dev/null 2>&1; then
	have_python=1
else
	have_python=0
fi

# Kill the daemon if it still runs and remove the directory.
cleanup()
{
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' HUP INT TERM

# Count a pass.
pass()
{
	passed=$((passed + 1))
}

# Count a failure and say why.
fail()
{
	failed=$((failed + 1))
	printf 'FAIL: %s\n' "$*" >&2
}

# Count the status of the command just run: ok NAME.
ok()
{
	if [ $? = 0 ]; then
		pass
	else
		fail "$1"
	fi
}

# Run aiofs on the private socket: sets out, err and rc.
run()
{
	"$AIOFS" -s "$sock" "$@" >"$dir/out" 2>"$dir/err"
	rc=$?
	out=$(cat "$dir/out")
	err=$(cat "$dir/err")
}

# Keep the last --json output (one line) for the python3 check at the end.
json_keep()
{
	cat "$dir/out" >>"$dir/json"
}

# t NAME RC OUT ARGS...: expect status RC, stdout OUT, empty stderr.
t()
{
	_name=$1 _rc=$2 _out=$3
	shift 3
	run "$@"
	if [ "$rc" != "$_rc" ] || [ "$out" != "$_out" ] || [ -n "$err" ]; then
		fail "$_name: aiofs $*: want rc=$_rc out=[$_out];" \
		    "got rc=$rc out=[$out] err=[$err]"
	else
		[ "$1" = --json ] && json_keep
		pass
	fi
}

# te NAME RC ERR ARGS...: expect status RC, empty stdout, stderr ERR.
te()
{
	_name=$1 _rc=$2 _err=$3
	shift 3
	run "$@"
	if [ "$rc" != "$_rc" ] || [ -n "$out" ] || [ "$err" != "$_err" ]; then
		fail "$_name: aiofs $*: want rc=$_rc err=[$_err];" \
		    "got rc=$rc out=[$out] err=[$err]"
	else
		pass
	fi
}

# tm NAME RC REGEX ARGS...: expect status RC and stdout matching REGEX.
tm()
{
	_name=$1 _rc=$2 _re=$3
	shift 3
	run "$@"
	if [ "$rc" != "$_rc" ] || [ -n "$err" ] ||
	    ! printf '%s\n' "$out" | grep -Eq "$_re"; then
		fail "$_name: aiofs $*: want rc=$_rc out~/$_re/;" \
		    "got rc=$rc out=[$out] err=[$err]"
	else
		[ "$1" = --json ] && json_keep
		pass
	fi
}

# The --json error object: jerr NAME ERRNO MESSAGE PATH.
jerr()
{
	printf '{"error":"%s","errno":%s,"message":"%s","path":"%s"}' \
	    "$1" "$2" "$3" "$4"
}

# A host file's time as aiofs prints it: hosttime X|Y|Z FILE.
hosttime()
{
	_s=$(stat -c "%$1" "$2")
	case $1 in
	X) _h=$(stat -c %x "$2") ;;
	Y) _h=$(stat -c %y "$2") ;;
	*) _h=$(stat -c %z "$2") ;;
	esac
	_f=$(printf '%s\n' "$_h" | sed -n 's/^[^.]*\.\([0-9]*\) .*/\1/p')
	printf '%s.%s' "$_s" "$(printf '%-9s' "$_f" | tr ' ' 0)"
}

# --- start the daemon --------------------------------------------------------

"$AIOFSD" -f -q -s "$sock" -r "$root" 2>"$dir/aiofsd.log" &
pid=$!
i=0
while ! "$AIOFS" -s "$sock" ping >/dev/null 2>&1; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "$0: aiofsd did not start:" >&2
		cat "$dir/aiofsd.log" >&2
		exit 1
	fi
	sleep 0.1
done

nl='
'
nosock=$dir/nosock
enoent='No such file or directory'

# --- global options, usage errors (exit 2) -----------------------------------

t ping 0 ok ping
tm ping-json 0 '^\{"ok":true,"server_version":"[^"]+"\}$' --json ping
run -h
[ "$rc" = 0 ] && printf '%s\n' "$out" | grep -q '^usage: aiofs'
ok help-stdout
[ "$(printf '%s\n' "$out" | grep -c '^  ')" -ge 30 ]
ok help-lists-commands
run --version
[ "$rc" = 0 ] && printf '%s\n' "$out" | grep -Eq '^aiofs [0-9]'
ok version
usage_global='usage: aiofs [-s SOCKET] [--json] COMMAND [ARGS...]'
te no-command 2 "aiofs: no command$nl$usage_global"
te unknown-command 2 "aiofs: unknown command: frob$nl$usage_global" frob
te unknown-global-option 2 "aiofs: unknown option: --bogus$nl$usage_global" \
    --bogus ping
te missing-operand 2 "aiofs: stat: missing operand
usage: aiofs stat [--no-follow] PATH" stat
te extra-operand 2 "aiofs: stat: extra operand: /b
usage: aiofs stat [--no-follow] PATH" stat /a /b
te extra-operand-ping 2 "aiofs: ping: extra operand: x
usage: aiofs ping" ping x
te bad-option 2 "aiofs: mkdir: unknown option: -x
usage: aiofs mkdir [-p] [-m MODE] PATH" mkdir -x /d
te option-value 2 "aiofs: mkdir: option needs a value: -m
usage: aiofs mkdir [-p] [-m MODE] PATH" mkdir -m
te bad-mkdir-mode 2 "aiofs: mkdir: bad MODE: 8
usage: aiofs mkdir [-p] [-m MODE] PATH" mkdir -m 8 /d
te bad-chmod-mode 2 "aiofs: chmod: bad MODE: rwx
usage: aiofs chmod MODE PATH" chmod rwx /d
te bad-access-mode 2 "aiofs: access: bad MODE (letters f r w x): rq
usage: aiofs access PATH MODE" access / rq
te bad-access-empty 2 "aiofs: access: bad MODE (letters f r w x): 
usage: aiofs access PATH MODE" access / ''
# A usage error never needs the daemon.
"$AIOFS" -s "$nosock" frob >/dev/null 2>&1
[ $? = 2 ]
ok usage-before-connect

# --- connection failures (exit 4) --------------------------------------------

"$AIOFS" -s "$nosock" ping >"$dir/out" 2>"$dir/err"
rc=$?
[ "$rc" = 4 ]
ok connect-rc
[ "$(cat "$dir/err")" = \
    "aiofs: cannot connect to $nosock: $enoent" ]
ok connect-msg
[ ! -s "$dir/out" ]
ok connect-no-stdout
"$AIOFS" -s "$nosock" --json stat / >"$dir/out" 2>"$dir/err"
rc=$?
[ "$rc" = 4 ] && [ ! -s "$dir/err" ] &&
    [ "$(cat "$dir/out")" = "$(jerr ENOENT 2 \
    "cannot connect to $nosock: $enoent" "$nosock")" ]
ok connect-json
json_keep
: >"$dir/notsock"
"$AIOFS" -s "$dir/notsock" ping >/dev/null 2>&1
[ $? = 4 ]
ok connect-not-a-socket
out=$(AIOFS_SOCKET=$sock "$AIOFS" ping 2>&1)
[ "$out" = ok ]
ok env-AIOFS_SOCKET
ln -s sock "$dir/aiofsd.sock"
out=$(unset AIOFS_SOCKET; XDG_RUNTIME_DIR=$dir "$AIOFS" ping 2>&1)
[ "$out" = ok ]
ok env-XDG_RUNTIME_DIR
out=$(AIOFS_SOCKET=$sock "$AIOFS" -s "$nosock" ping 2>&1)
[ "$out" = "aiofs: cannot connect to $nosock: $enoent" ]
ok s-overrides-env

# --- write, append, cat ------------------------------------------------------

printf 'hello\n' >"$dir/in"
t write 0 '' write /a.txt <"$dir/in"
[ "$(cat "$root/a.txt")" = hello ]
ok write-host
t cat 0 hello cat /a.txt
printf 'world\n' >"$dir/in"
t append 0 '' append /a.txt <"$dir/in"
t cat-appended 0 "hello${nl}world" cat /a.txt
t write-json 0 '{"ok":true}' --json write /a.txt </dev/null
[ ! -s "$root/a.txt" ]
ok write-truncates
printf 'hello\n' >"$dir/in"
t write-again 0 '' write /a.txt <"$dir/in"
t write-empty 0 '' write /empty </dev/null
[ -f "$root/empty" ] && [ ! -s "$root/empty" ]
ok write-empty-host
t cat-empty 0 '' cat /empty
te write-enoent 3 "aiofs: write: /no/such: $enoent" write /no/such </dev/null
te cat-enoent 3 "aiofs: cat: /nope: $enoent" cat /nope
run cat /a.txt /nope /a.txt
[ "$rc" = 3 ] && [ "$out" = "hello${nl}hello" ] &&
    [ "$err" = "aiofs: cat: /nope: $enoent" ]
ok cat-continues
t cat-json-error 3 "$(jerr ENOENT 2 "$enoent" /nope)" --json cat /nope
t write-dashdash 0 '' write -- -dash <"$dir/in"
t cat-dashdash 0 hello cat -- -dash
te cat-dash-option 2 "aiofs: cat: unknown option: -dash
usage: aiofs cat PATH..." cat -dash
mkdir "$root/d0"
te cat-dir 3 "aiofs: cat: /d0: Is a directory" cat /d0

# A multi-MiB random file, both ways, byte for byte.
head -c 5500000 /dev/urandom >"$dir/big"
t write-big 0 '' write /big <"$dir/big"
cmp -s "$dir/big" "$root/big"
ok write-big-cmp
"$AIOFS" -s "$sock" cat /big >"$dir/big.out" 2>"$dir/err"
ok cat-big-rc
cmp -s "$dir/big" "$dir/big.out"
ok cat-big-cmp
[ ! -s "$dir/err" ]
ok cat-big-no-progress
"$AIOFS" -s "$sock" cat /big /a.txt /big >"$dir/big.out" 2>"$dir/err"
cat "$dir/big" "$root/a.txt" "$dir/big" >"$dir/big.want"
cmp -s "$dir/big.want" "$dir/big.out"
ok cat-several
# A reader that goes away: quiet, status 3, and the daemon is fine.
( "$AIOFS" -s "$sock" cat /big 2>"$dir/err"; echo $? >"$dir/rc" ) |
    head -c 10 >/dev/null
[ "$(cat "$dir/rc")" = 3 ] && [ ! -s "$dir/err" ]
ok cat-epipe
t ping-after-epipe 0 ok ping

# --- stat, statvfs, get* -----------------------------------------------------

f=$root/a.txt
run stat /a.txt
want="mode=0100644
type=file
size=6
uid=$(stat -c %u "$f")
gid=$(stat -c %g "$f")
nlink=1
ino=$(stat -c %i "$f")
dev=$(stat -c %d "$f")
atime=$(hosttime X "$f")
mtime=$(hosttime Y "$f")
ctime=$(hosttime Z "$f")"
[ "$rc" = 0 ] && [ "$out" = "$want" ] && [ -z "$err" ]
ok stat-plain
[ "$out" = "$want" ] || printf 'want:\n%s\ngot:\n%s\n' "$want" "$out" >&2
want=$(printf '{"mode":33188,"type":"file","size":6,"uid":%s,"gid":%s,' \
    "$(stat -c %u "$f")" "$(stat -c %g "$f")"
    printf '"nlink":1,"ino":%s,"dev":%s,' "$(stat -c %i "$f")" \
    "$(stat -c %d "$f")"
    printf '"atime":%s,"mtime":%s,"ctime":%s}' "$(hosttime X "$f")" \
    "$(hosttime Y "$f")" "$(hosttime Z "$f")")
t stat-json 0 "$want" --json stat /a.txt
te stat-enoent 3 "aiofs: stat: /nope: $enoent" stat /nope
t stat-enoent-json 3 "$(jerr ENOENT 2 "$enoent" /nope)" --json stat /nope
te stat-enotdir 3 "aiofs: stat: /a.txt/x: Not a directory" stat /a.txt/x
tm stat-dir 0 '^type=dir$' stat /d0
tm stat-root 0 '^mode=040755$' stat /
t getsize 0 6 getsize /a.txt
t getsize-json 0 6 --json getsize /a.txt
t getmtime 0 "$(hosttime Y "$f")" getmtime /a.txt
t getatime 0 "$(hosttime X "$f")" getatime /a.txt
t getctime-json 0 "$(hosttime Z "$f")" --json getctime /a.txt
te getsize-enoent 3 "aiofs: getsize: /nope: $enoent" getsize /nope
run statvfs /
[ "$rc" = 0 ] && [ "$(printf '%s\n' "$out" |
    sed 's/=[0-9]*$//' | tr '\n' ' ')" = \
    "bsize frsize blocks bfree bavail files ffree favail flag namemax fsid " ]
ok statvfs-keys
[ "$(printf '%s\n' "$out" | grep '^namemax=')" = \
    "namemax=$(stat -f -c %l "$root")" ]
ok statvfs-namemax
re=
for k in bsize frsize blocks bfree bavail files ffree favail flag namemax fsid
do
	re="$re${re:+,}\"$k\":[0-9]+"
done
tm statvfs-json 0 "^\\{$re\\}\$" --json statvfs /
te statvfs-enoent 3 "aiofs: statvfs: /nope: $enoent" statvfs /nope

# --- directories: mkdir, ls, scandir, rmdir, removedirs, rmtree, walk --------

t mkdir 0 '' mkdir /d
[ -d "$root/d" ]
ok mkdir-host
te mkdir-exists 3 "aiofs: mkdir: /d: File exists" mkdir /d
t mkdir-p-exists 0 '' mkdir -p /d
te mkdir-p-file 3 "aiofs: mkdir: /a.txt: File exists" mkdir -p /a.txt
te mkdir-noparent 3 "aiofs: mkdir: /x/y: $enoent" mkdir /x/y
t mkdir-p 0 '' mkdir -p /x/y/z
[ -d "$root/x/y/z" ]
ok mkdir-p-host
t mkdir-m 0 '' mkdir -m 700 /m7
[ "$(stat -c %a "$root/m7")" = 700 ]
ok mkdir-m-host
t mkdir-p-m 0 '{"ok":true}' --json mkdir -p -m 0751 /pm/a
[ "$(stat -c %a "$root/pm/a")" = 751 ]
ok mkdir-p-m-host
t mkdir-m-equals 0 '' mkdir -m0 /m0
[ "$(stat -c %a "$root/m0")" = 0 ]
ok mkdir-m0-host
chmod 700 "$root/m0"
for n in b c a; do
	printf '%s\n' "$n" >"$root/d/$n"
done
mkdir "$root/d/sub"
ln -s a "$root/d/lnk"
t ls 0 "a${nl}b${nl}c${nl}lnk${nl}sub" ls /d
t ls-json 0 '["a","b","c","lnk","sub"]' --json ls /d
t ls-empty-json 0 '[]' --json ls /x/y/z
te ls-enoent 3 "aiofs: ls: /nope: $enoent" ls /nope
te ls-file 3 "aiofs: ls: /a.txt: Not a directory" ls /a.txt
ino() { stat -c %i "$root/d/$1"; }
t scandir 0 "file $(ino a) a
file $(ino b) b
file $(ino c) c
symlink $(ino lnk) lnk
dir $(ino sub) sub" scandir /d
ent() { printf '{"name":"%s","type":"%s","ino":%s}' "$1" "$2" "$(ino "$1")"; }
want="[$(ent a file),$(ent b file),$(ent c file),$(ent lnk symlink)"
t scandir-json 0 "$want,$(ent sub dir)]" --json scandir /d
te scandir-enoent 3 "aiofs: scandir: /nope: $enoent" scandir /nope

# Names JSON must escape; an invalid UTF-8 byte becomes \u00XX.
mkdir "$root/esc"
for n in "$(printf 'bad\377')" "$(printf 'c\001')" "$(printf 'nl\nx')" \
    'q"b\s' "$(printf 't\tab')" "$(printf '\303\251')"; do
	: >"$root/esc/$n"
done
t json-escape 0 '["bad\u00ff","c\u0001","nl\nx","q\"b\\s","t\tab","é"]' \
    --json ls /esc
printf 'q"b\\s' >"$dir/want"
printf '\n' >>"$dir/want"
"$AIOFS" -s "$sock" ls /esc | sed -n 5p >"$dir/got"
cmp -s "$dir/want" "$dir/got"
ok ls-raw-bytes

te rmdir-notempty 3 "aiofs: rmdir: /d: Directory not empty" rmdir /d
t rmdir 0 '' rmdir /m7
[ ! -e "$root/m7" ]
ok rmdir-host
te rmdir-enoent 3 "aiofs: rmdir: /m7: $enoent" rmdir /m7
t removedirs 0 '' removedirs /x/y/z
[ ! -e "$root/x" ]
ok removedirs-host
te removedirs-enoent 3 "aiofs: removedirs: /x: $enoent" removedirs /x

mkdir -p "$root/w/d1/d2"
: >"$root/w/f1"
: >"$root/w/d1/f2"
t walk 0 "/w/d1
/w/f1
/w/d1/d2
/w/d1/f2" walk /w
want='[["/w",["d1"],["f1"]],["/w/d1",["d2"],["f2"]],'
t walk-json 0 "$want"'["/w/d1/d2",[],[]]]' --json walk /w
t walk-missing 0 '' walk /nope
t walk-missing-json 0 '[]' --json walk /nope
t rmtree 0 '' rmtree /w
[ ! -e "$root/w" ]
ok rmtree-host
te rmtree-enoent 3 "aiofs: rmtree: /w: $enoent" rmtree /w

# --- files: rm, mv, renames, replace, ln, readlink, chmod, touch, copy -------

: >"$root/r1"
t rm 0 '' rm /r1
[ ! -e "$root/r1" ]
ok rm-host
te rm-enoent 3 "aiofs: rm: /r1: $enoent" rm /r1
te rm-dir 3 "aiofs: rm: /d: Is a directory" rm /d
t rm-json 0 '{"ok":true}' --json rm /empty
printf 'm\n' >"$root/m1"
t mv 0 '' mv /m1 /m2
[ ! -e "$root/m1" ] && [ "$(cat "$root/m2")" = m ]
ok mv-host
te mv-enoent 3 "aiofs: mv: /m1: $enoent" mv /m1 /m3
mkdir "$root/rs"
printf 'r\n' >"$root/rs/f"
t renames 0 '' renames /rs/f /rn/a/b
[ "$(cat "$root/rn/a/b")" = r ] && [ ! -e "$root/rs" ]
ok renames-host
printf 'new\n' >"$root/rp1"
printf 'old\n' >"$root/rp2"
t replace 0 '' replace /rp1 /rp2
[ "$(cat "$root/rp2")" = new ] && [ ! -e "$root/rp1" ]
ok replace-host
t ln 0 '' ln /a.txt /hard
[ "$(stat -c %i "$root/hard")" = "$(stat -c %i "$root/a.txt")" ]
ok ln-host
tm ln-nlink 0 '^nlink=2$' stat /a.txt
te ln-exists 3 "aiofs: ln: /hard: File exists" ln /a.txt /hard
t ln-s 0 '' ln -s a.txt /sym
[ "$(readlink "$root/sym")" = a.txt ]
ok ln-s-host
t readlink 0 a.txt readlink /sym
t readlink-json 0 '"a.txt"' --json readlink /sym
te readlink-notlink 3 "aiofs: readlink: /a.txt: Invalid argument" \
    readlink /a.txt
tm stat-follow 0 '^type=file$' stat /sym
tm stat-no-follow 0 '^type=symlink$' stat --no-follow /sym
tm stat-no-follow-json 0 '"type":"symlink"' --json stat --no-follow /sym
t chmod 0 '' chmod 600 /hard
[ "$(stat -c %a "$root/a.txt")" = 600 ]
ok chmod-host
t chmod-json 0 '{"ok":true}' --json chmod 0644 /a.txt
[ "$(stat -c %a "$root/a.txt")" = 644 ]
ok chmod-host2
te chmod-enoent 3 "aiofs: chmod: /nope: $enoent" chmod 644 /nope
t touch-new 0 '' touch /t1
[ -f "$root/t1" ] && [ ! -s "$root/t1" ]
ok touch-new-host
touch -d '2001-02-03 04:05:06' "$root/t1"
t touch-old 0 '' touch /t1
run getmtime /t1
[ -n "$out" ] && [ "${out%%.*}" -gt 981173106 ]
ok touch-updates
te touch-enoent 3 "aiofs: touch: /nope/t: $enoent" touch /nope/t
t copy 0 '' copy /big /big2
cmp -s "$dir/big" "$root/big2"
ok copy-host
[ "$(stat -c %a "$root/big2")" = 644 ]
ok copy-mode
t copy-json 0 '{"ok":true}' --json copy /a.txt /a2
[ "$(cat "$root/a2")" = hello ]
ok copy-json-host
te copy-enoent 3 "aiofs: copy: /nope: $enoent" copy /nope /x

# --- predicates (exit 1 when false) ------------------------------------------

t exists 0 true exists /a.txt
t exists-false 1 false exists /nope
t exists-json 1 false --json exists /nope
t isfile 0 true isfile /a.txt
t isfile-false 1 false isfile /d
t isdir 0 true isdir /d
t isdir-false 1 false isdir /a.txt
t islink 0 true islink /sym
t islink-false 1 false islink /a.txt
t ismount 0 true ismount /
t ismount-false 1 false ismount /d
t samefile 0 true samefile /a.txt /hard
t samefile-sym 0 true samefile /a.txt /sym
t samefile-false 1 false samefile /a.txt /a2
te samefile-enoent 3 "aiofs: samefile: /nope: $enoent" samefile /nope /a.txt
t access-r 0 true access /a.txt r
t access-f 0 true access /a.txt f
t access-rw 0 true --json access /a.txt rw
t access-x 1 false access /a.txt x
t access-enoent 1 false access /nope f

# --- paths, mktemp -----------------------------------------------------------

t getcwd 0 / getcwd
t getcwd-json 0 '"/"' --json getcwd
t abspath 0 /foo/bar abspath foo/./baz/../bar
t abspath-dotdot 0 / abspath /../..
t abspath-json 0 '"/a b"' --json abspath '/a b'
# No /tmp (nor /var/tmp, /usr/tmp) in the root: Python's gettempdir()
# order falls back to the cwd, which is the root.
tm mktemp-notmp 0 '^/tmp[a-z0-9_]{8}$' mktemp
[ -f "$root$out" ] && rm -f "$root$out"
te mktemp-baddir 3 "aiofs: mktemp: /nodir: $enoent" mktemp --dir /nodir
mkdir "$root/tmp"
tm mktemp 0 '^/tmp/tmp[a-z0-9_]{8}$' mktemp
[ -f "$root$out" ] && [ ! -s "$root$out" ]
ok mktemp-file
tm mktemp-opts 0 '^/d/pre[a-z0-9_]{8}\.s$' mktemp --prefix pre --suffix .s \
    --dir /d
[ -f "$root$out" ]
ok mktemp-opts-file
tm mktemp-d 0 '^/tmp/tmp[a-z0-9_]{8}$' mktemp -d
[ -d "$root$out" ]
ok mktemp-d-dir
tm mktemp-d-json 0 '^"/x[a-z0-9_]{8}"$' --json mktemp -d --prefix=x --dir=/
[ -d "$root$(printf '%s' "$out" | tr -d '"')" ]
ok mktemp-d-json-dir
te mktemp-bad-prefix 3 \
    "aiofs: mktemp: prefix and suffix must be short and contain no '/'" \
    mktemp --prefix a/b

# --- stats --------------------------------------------------------------------

run stats
[ "$rc" = 0 ] &&
    printf '%s\n' "$out" | grep -Eq '^requests_total=[0-9]+$' &&
    printf '%s\n' "$out" | grep -Eq '^uptime_s=[0-9]+\.[0-9]{3}$' &&
    printf '%s\n' "$out" | grep -Eq '^ops\.stat\.count=[0-9]+$' &&
    printf '%s\n' "$out" | grep -Eq '^ops\.stat\.p99_us=[0-9.]+$'
ok stats-plain
# One count per event loop, summing to the connections open.
[ "$(printf '%s\n' "$out" | awk -F= '
    /^connections_current=/ { want = $2 }
    /^loop_connections\.[0-9]+=/ { n++; sum += $2 }
    END { print (n >= 1 && sum == want) ? "yes" : "no" }')" = yes ]
ok stats-loop-connections
re='"stat":\{"count":[0-9]+,"errors":[0-9]+,"p50_us":[0-9.]+,'
re=$re'"p99_us":[0-9.]+,"p999_us":[0-9.]+\}'
re='^\{"uptime_s":[0-9.]+,"connections_current":[0-9]+,.*"ops":\{.*'$re
tm stats-json 0 "$re"'.*\}\}$' --json stats
run stats --prometheus
q='aiofsd_op_latency_seconds\{op="stat",quantile="0\.99"\}'
[ "$rc" = 0 ] &&
    printf '%s\n' "$out" | grep -qx '# TYPE aiofsd_requests_total counter' &&
    printf '%s\n' "$out" | grep -Eqx 'aiofsd_requests_total [0-9]+' &&
    printf '%s\n' "$out" | grep -qx '# TYPE aiofsd_op_requests_total counter' &&
    printf '%s\n' "$out" |
    grep -Eqx 'aiofsd_op_requests_total\{op="stat"\} [0-9]+' &&
    printf '%s\n' "$out" | grep -Eqx "$q [-+.e0-9]+"
ok stats-prometheus
! printf '%s\n' "$out" | grep -Evq '^(# (HELP|TYPE) )?aiofsd_'
ok stats-prometheus-names
printf '%s\n' "$out" | grep -Eqx 'aiofsd_loop_connections\{loop="0"\} [0-9]+'
ok stats-prometheus-loops

# --- aiofsd --loops -----------------------------------------------------------

# The usage fits 80 columns, one bracket group after another.
out=$("$AIOFSD" -h)
[ $? = 0 ] && printf '%s\n' "$out" | grep -q -- '-l loops' &&
    printf '%s\n' "$out" | awk 'length > 80 { bad = 1 }
    NR == 1 && !/^usage: aiofsd / { bad = 1 }
    NR > 1 && !/^              \[[^ ]/ { bad = 1 }
    /\]  / { bad = 1 }
    END { exit bad }'
ok aiofsd-usage

out=$("$AIOFSD" -s "$dir/x.sock" -r "$root" --loops 0 2>&1)
[ $? = 2 ] && printf '%s\n' "$out" |
    grep -qx 'aiofsd: --loops: "0" is not a number from 1 to 64'
ok aiofsd-loops-zero
out=$("$AIOFSD" -s "$dir/x.sock" -r "$root" -l 65 2>&1)
[ $? = 2 ]
ok aiofsd-loops-too-many
out=$("$AIOFSD" -s "$dir/x.sock" -r "$root" -l 3 --check-config 2>&1)
[ $? = 0 ] && printf '%s\n' "$out" | grep -qx 'loops = 3'
ok aiofsd-loops-check-config

# --- confinement --------------------------------------------------------------

run cat /../../etc/passwd
[ "$rc" = 3 ] && [ -z "$out" ] &&
    [ "$err" = "aiofs: cat: /../../etc/passwd: $enoent" ]
ok confine-dotdot
t confine-ln 0 '' ln -s /etc/passwd /pw
run cat /pw
[ "$rc" = 3 ] && [ -z "$out" ] &&
    [ "$err" = "aiofs: cat: /pw: $enoent" ]
ok confine-abs-symlink
t confine-ln-rel 0 '' ln -s ../../../../../../../etc/passwd /pw2
run cat /pw2
[ "$rc" = 3 ] && ! printf '%s' "$out" | grep -q root:
ok confine-rel-symlink
t confine-exists 1 false exists /../etc/passwd
t confine-write 0 '' write /../escape.txt </dev/null
[ -f "$root/escape.txt" ] && [ ! -e "$dir/escape.txt" ]
ok confine-write-host

# --- SIGTERM ------------------------------------------------------------------

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ]
ok sigterm-exit
[ ! -e "$sock" ]
ok sigterm-socket-gone
"$AIOFS" -s "$sock" ping >/dev/null 2>&1
[ $? = 4 ]
ok after-stop-exit-4

# --- every --json output parses ---------------------------------------------

if [ "$have_python" = 1 ]; then
	python3 -c '
import json, sys
bad = 0
for line in open(sys.argv[1], encoding="utf-8", errors="surrogateescape"):
    try:
        json.loads(line)
    except ValueError as e:
        print("invalid JSON: %r: %s" % (line, e), file=sys.stderr)
        bad += 1
sys.exit(bad != 0)' "$dir/json"
	ok json-valid
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
