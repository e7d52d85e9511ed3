#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# make check: formatting (clang-format --dry-run -Werror on every tracked C file), static analysis
# of user/ and ike/ (cppcheck, and clang --analyze with the build's flags), and clang --analyze on
# bpf/. Exits non-zero on the first class of finding, after printing all of them.
set -u
cd "$(dirname "$0")/.." || exit 1
OUTPUT=${OUTPUT:-.output}
rc=0

mapfile -t srcs < <(git ls-files -co --exclude-standard -- '*.c' '*.h' | grep -v '^vmlinux/' |
	while read -r f; do [ -f "$f" ] && echo "$f"; done)

echo "check: clang-format on ${#srcs[@]} files"
if ! clang-format --dry-run -Werror "${srcs[@]}"; then
	echo "check: FAILED clang-format (run: make format)"
	rc=1
fi

mapfile -t usr < <(printf '%s\n' "${srcs[@]}" | grep -E '^(user|ike)/.*\.c$')
if [ ${#usr[@]} -gt 0 ]; then
	echo "check: cppcheck on ${#usr[@]} files"
	if ! cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
		--inline-suppr --std=c11 -D__x86_64__ -Iheaders -Iike -Iuser \
		--suppress=missingIncludeSystem "${usr[@]}"; then
		echo "check: FAILED cppcheck"
		rc=1
	fi
	echo "check: clang --analyze on ${#usr[@]} files"
	for f in "${usr[@]}"; do
		out=$(clang --analyze -Xanalyzer -analyzer-output=text -std=gnu11 -D_GNU_SOURCE \
			-Iheaders -Iike -Iuser -isystem "$OUTPUT" -o /dev/null "$f" 2>&1)
		# findings inside bpftool's generated skeleton are not ours to fix
		if [ -n "$out" ] && ! echo "$out" | grep 'warning:' | grep -qv '\.skel\.h:'; then
			out=""
		fi
		if [ -n "$out" ]; then
			echo "$out"
			rc=1
		fi
	done
fi

mapfile -t bpfs < <(printf '%s\n' "${srcs[@]}" | grep -E '^bpf/.*\.bpf\.c$')
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
if [ ${#bpfs[@]} -gt 0 ]; then
	echo "check: clang --analyze on ${#bpfs[@]} BPF files"
	for f in "${bpfs[@]}"; do
		out=$(clang --analyze -target bpf -D__TARGET_ARCH_"$arch" -Ivmlinux/"$arch" -Iheaders \
			-Ibpf -o /dev/null "$f" 2>&1)
		if [ -n "$out" ]; then
			echo "$out"
			rc=1
		fi
	done
fi

[ $rc -eq 0 ] && echo "check: OK"
exit $rc
