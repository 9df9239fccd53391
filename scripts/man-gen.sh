#!/bin/sh
# man-gen.sh SOURCE.md OUTDIR VERSION: the troupe man pages from their one
# source (docs/cli.md). The part before the first `## troupe CMD` section
# becomes troupe.1 (with a COMMANDS list); each `## troupe CMD` section
# becomes troupe-CMD.1, its first line the NAME line. Understood markdown:
# `## `/`### ` headings, paragraphs, `code`, *emphasis*, "- " lists, and
# definition lists (a term line, then ": text", continued by indented
# lines). Only POSIX sh and awk.
set -eu
src=$1
out=$2
version=$3
mkdir -p "$out"
awk -v out="$out" -v version="$version" '
function inline(s,   r, c, i, code, em) {
	gsub(/\\/, "\\e", s)
	r = ""; code = 0; em = 0
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c == "`") { r = r (code ? "\\fR" : "\\fB"); code = !code; continue }
		if (c == "*" && !code &&
		    (em || substr(s, i + 1, 1) ~ /[A-Za-z.]/)) {
			r = r (em ? "\\fR" : "\\fI"); em = !em; continue
		}
		if (c == "-" && code) c = "\\-"
		r = r c
	}
	if (r ~ /^[.\x27]/) r = "\\&" r
	return r
}
function emit(line) {
	if (line == ".PP" && last ~ /^\.(PP|SH|TP|IP)/) return
	print line > file
	last = line
}
function flush() {
	if (para != "") emit(inline(para))
	para = ""
}
function page(name, title) {
	flush()
	if (file != "") close(file)
	file = out "/" name ".1"
	last = ""
	emit(".TH " toupper(name) " 1 \"\" \"troupe " version "\" \"troupe manual\"")
	emit(".SH NAME")
	emit(name " \\- " title)
}
NR == 1 { sub(/^# /, ""); split($0, t, " - "); over_title = t[2]
	  page("troupe", over_title); overview = 1; skip = 1; next }
/^## troupe / {
	if (overview) {
		overview = 0
		flush()
		emit(".SH COMMANDS")
		emit("Each has its own page, troupe\\-COMMAND(1).")
		emit(".so troupe-commands.inc")
	}
	cmd = $3; want_title = 1; skip = 0
	next
}
want_title && NF > 0 { page("troupe-" cmd, $0); print "troupe-" cmd "\t" $0 > (out "/troupe-commands.txt")
	  want_title = 0; next }
/^## / && overview { skip = 0; flush(); sub(/^## /, ""); emit(".SH " $0); next }
skip { next }
/^### / { flush(); sub(/^### /, ""); emit(".SH " $0); next }
/^```/ { next }
/^$/ { flush(); emit(".PP"); next }
/^- / { flush(); sub(/^- /, ""); emit(".IP \\(bu 2"); para = $0; next }
/^: / { term = para; para = ""; sub(/^: /, ""); emit(".TP")
	emit(inline(term)); para = $0; next }
{ sub(/^  +/, ""); para = (para == "" ? $0 : para " " $0) }
END {
	flush()
	close(file)
}
' "$src"
# troupe.1: the command list in place of its .so line (man pages must not
# depend on a file next to them).
list=$(awk -F '\t' '{ sub(/^troupe-/, "", $1)
	printf ".TP\n\\fBtroupe %s\\fR\n%s\n", $1, $2 }' "$out/troupe-commands.txt")
LIST=$list awk '/^\.so troupe-commands.inc$/ { print ENVIRON["LIST"]; next } { print }' \
	"$out/troupe.1" > "$out/troupe.1.tmp"
mv "$out/troupe.1.tmp" "$out/troupe.1"
# Every page ends with SEE ALSO.
for f in "$out"/troupe*.1; do
	printf '.SH SEE ALSO\ntroupe(1), docs/supervisor.md\n' >> "$f"
done
rm -f "$out/troupe-commands.txt"
