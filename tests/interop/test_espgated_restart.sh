#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop tier: restarting after a dead peer (dpd action restart) against a strongSwan charon that
# comes back half-booted. charon is killed; once espgated declares it dead, charon is restarted
# WITHOUT its connection (it answers IKE_SA_INIT with NO_PROPOSAL_CHOSEN), then with a wrong PSK
# (AUTHENTICATION_FAILED), then with the right one. espgated must keep trying: a failed attempt
# schedules the next one after 5 s, then about 10 s (doubling, up to 3 min, plus up to a fifth
# of jitter), `espgatectl status` shows the attempts, the next retry and the last error in
# words (also in --json), `espgatectl up` makes the next attempt now, and the tunnel comes back
# once charon is configured. (The failed-attempt path is the same for an attempt that times out.)
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/charon.sh
OUTPUT=${OUTPUT:-.output}
source tests/lib/espgated.sh

charon_require "restart after a dead peer"
PSK="restart-psk-0123456789abcdef"
egd_pair_lab restart "$PSK" || {
	tap_fail "lab setup"
	tap_done
	exit
}

swanctl_conf() { # SECRET
	cat <<C
connections {
	gw {
		version = 2
		local_addrs = 192.0.2.2
		remote_addrs = 192.0.2.1
		proposals = aes256-sha256-ecp384
		local {
			auth = psk
			id = 192.0.2.2
		}
		remote {
			auth = psk
			id = 192.0.2.1
		}
		children {
			lan {
				local_ts = 192.168.88.0/24
				remote_ts = 10.1.0.0/16
				esp_proposals = aes256-sha256
			}
		}
	}
}
secrets {
	ike-gw {
		id-1 = 192.0.2.1
		id-2 = 192.0.2.2
		secret = "$1"
	}
}
C
}
swanctl_conf "$PSK" >"$W/good.conf"
swanctl_conf "not-the-right-psk-0123456789" >"$W/bad.conf"
mkdir -p "$W/eg"
cat >"$W/eg/espgate.yaml" <<C
global:
  interfaces: eth0
  secrets: $W/secrets.yaml
tunnels:
  partner:
    peer: 192.0.2.2
    local_address: 192.0.2.1
    psk: partner
    start: start
    ike: aes256-sha256-ecp384
    esp: aes256-sha256
    dpd: { delay: 2s, timeout: 4s, action: restart }
    children:
      - name: lan
        local: 10.1.0.0/16
        remote: 192.168.88.0/24
C

raw() { charon_swanctl partner --list-sas --raw 2>/dev/null; }
child_installed() { raw | grep -q state=INSTALLED; }
st() { egd_ctl eg status partner 2>&1; }
# failed N: status says N attempts failed and a next retry is scheduled
failed() { st | grep -q "restarting: $1 attempts failed, next in"; }
next_in() { st | sed -n 's/.*next in \([0-9]*\) s.*/\1/p'; }

charon_start partner "$P" "$W/charon" && charon_load partner "$W/good.conf" &&
	egd_start eg "$GW" "$W/eg" && wait_for 8 child_installed || {
	tap_fail "tunnel up" "$(st)"
	tap_done
	exit
}

charon_kill partner
dead() { grep -q 'restarting (dpd action restart)' "$(egd_log eg)"; }
if wait_for 12 dead; then
	tap_ok "charon killed: declared dead, restarting"
else
	tap_fail "dead peer detected" "$(st)"
fi
# half-booted: charon runs but has no connection yet
charon_start partner "$P" "$W/charon"
if wait_for 10 failed 1 && st | grep -q 'last error: NO_PROPOSAL_CHOSEN'; then
	n=$(next_in)
	tap_ok "NO_PROPOSAL_CHOSEN from the half-booted charon does not end the restart: status shows 1 failed attempt, next in $n s, the error in words"
	[ "$n" -ge 1 ] && [ "$n" -le 6 ] && tap_ok "first retry within 5 s (+ jitter): $n s" ||
		tap_fail "first retry within 5 s + jitter" "next in '$n'"
else
	tap_fail "restart goes on after NO_PROPOSAL_CHOSEN" "$(st)"
	tail -8 "$(egd_log eg)" | sed 's/^/#   /'
fi
if wait_for 9 failed 2; then
	n=$(next_in)
	[ "$n" -ge 8 ] && [ "$n" -le 12 ] &&
		tap_ok "the timer made attempt 2 by itself; it failed too; the wait doubled: next in $n s" ||
		tap_fail "the wait doubles" "next in '$n'"
else
	tap_fail "attempt 2 by the timer" "$(st)"
fi
j=$(egd_ctl eg --json status partner)
if echo "$j" | jq -e '.tunnels[0] | .restarting == true and .failed_attempts == 2 and
	(.next_retry_s | type) == "number" and (.last_error | startswith("NO_PROPOSAL_CHOSEN"))' >/dev/null; then
	tap_ok "--json status: restarting, failed_attempts 2, next_retry_s, last_error"
else
	tap_fail "--json status" "$j"
fi

# the partner now has its connection but the wrong key; `up` does not wait for the timer
charon_load partner "$W/bad.conf"
out=$(egd_ctl eg up partner)
if echo "$out" | grep -q 'restart attempt 3' && wait_for 3 failed 3 &&
	st | grep -q 'last error: AUTHENTICATION_FAILED'; then
	n=$(next_in)
	tap_ok "espgatectl up tries at once: AUTHENTICATION_FAILED, still restarting, next in $n s"
	[ "$n" -ge 16 ] && [ "$n" -le 24 ] && tap_ok "third wait about 20 s: $n s" ||
		tap_fail "third wait about 20 s" "next in '$n'"
else
	tap_fail "up retries now, AUTHENTICATION_FAILED keeps the restart going" "$out / $(st)"
fi

charon_load partner "$W/good.conf"
t0=$SECONDS
egd_ctl eg up partner >/dev/null
if wait_for 4 child_installed && wait_for 2 eval 'st | grep -q ESTABLISHED' &&
	! st | grep -q restarting; then
	tap_ok "with the right configuration the tunnel is back $((SECONDS - t0)) s after up; no longer restarting"
else
	tap_fail "tunnel back" "$(st)"
fi
grep -q 'restarted after 3 failed attempts' "$(egd_log eg)" &&
	tap_ok "the log says: restarted after 3 failed attempts" ||
	tap_fail "log of the restart" "$(grep -i restart "$(egd_log eg)" | tail -5)"
egd_stop eg
tap_done
