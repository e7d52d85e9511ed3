#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Interop tier: identities and refusals between espgated (test mode, tests/lib/espgated.sh) and a
# strongSwan charon, both roles each:
#   - FQDN identities on both sides (local_id/remote_id "@..."), and an IP local_id with an FQDN
#     remote_id: the tunnel comes up and each side shows the other's identity;
#   - a wrong PSK: espgated's status says authentication failed, charon's log says so too, and
#     espgated recorded no SA;
#   - no common IKE proposal: NO_PROPOSAL_CHOSEN on both sides, with a log line naming both sides'
#     proposals (espgated's when it responds, charon's when espgated initiates);
#   - no common ESP proposal: the IKE SA stays, the CHILD SA is refused with NO_PROPOSAL_CHOSEN.
set -u
cd "$(dirname "$0")/../.." || exit 1
source tests/lib/tap.sh
source tests/lib/netns.sh
source tests/lib/charon.sh
OUTPUT=${OUTPUT:-.output}
source tests/lib/espgated.sh

charon_require "espgated identities and refusals"
PSK="interop-psk-0123456789abcdef"
egd_pair_lab auth "$PSK" || { # each case rewrites secrets.yaml with its own key
	tap_fail "lab setup"
	tap_done
	exit
}
charon_start partner "$P" "$W/charon" || {
	tap_fail "charon starts"
	tap_done
	exit
}

# config: writes both sides' configurations from these variables
#   START (start|none)  EG_LID EG_RID (espgated local_id/remote_id lines, may be empty)
#   CH_LID CH_RID (charon's ids)  EG_PSK CH_PSK  EG_IKE EG_ESP CH_IKE CH_ESP
config() {
	cat >"$W/secrets.yaml" <<S
psk:
  partner: "$EG_PSK"
S
	chmod 600 "$W/secrets.yaml"
	cat >"$W/espgate.yaml" <<C
global:
  interfaces: eth0
  secrets: $W/secrets.yaml
tunnels:
  partner:
    peer: 192.0.2.2
    local_address: 192.0.2.1
${EG_LID:+    local_id: \"$EG_LID\"
}${EG_RID:+    remote_id: \"$EG_RID\"
}    psk: partner
    ike: $EG_IKE
    esp: $EG_ESP
    start: $START
    children:
      - name: lan
        local: 10.1.0.0/16
        remote: 192.168.88.0/24
        direction: both
C
	cat >"$W/swanctl.conf" <<C
connections {
	gw {
		version = 2
		local_addrs = 192.0.2.2
		remote_addrs = 192.0.2.1
		proposals = $CH_IKE
		local {
			auth = psk
			id = $CH_LID
		}
		remote {
			auth = psk
			id = $CH_RID
		}
		children {
			lan {
				local_ts = 192.168.88.0/24
				remote_ts = 10.1.0.0/16
				esp_proposals = $CH_ESP
			}
		}
	}
}
secrets {
	ike-gw {
		id-1 = $CH_LID
		id-2 = $CH_RID
		secret = "$CH_PSK"
	}
}
C
}

defaults() {
	START=start EG_LID= EG_RID= CH_LID=192.0.2.2 CH_RID=192.0.2.1 EG_PSK=$PSK CH_PSK=$PSK
	EG_IKE=aes256-sha256-ecp384 EG_ESP=aes256-sha256 CH_IKE=aes256-sha256-ecp384
	CH_ESP=aes256-sha256
}

# run WHO: (re)loads charon, starts espgated, and lets WHO (espgate|partner) initiate; waits up to
# up to 6 s for charon to report the CHILD SA or espgated an error
run() {
	local who=$1
	START=start
	[ "$who" = partner ] && START=none
	config
	charon_swanctl partner --terminate --ike gw >/dev/null 2>&1
	: >"$(charon_log partner)"
	charon_load partner "$W/swanctl.conf"
	egd_start eg "$GW" "$W" || return 1
	if [ "$who" = partner ]; then
		charon_swanctl partner --initiate --child lan --timeout 6 >"$W/init.log" 2>&1
	fi
	wait_for 6 settled
}

raw() { charon_swanctl partner --list-sas --raw 2>/dev/null; }
# the CHILD SA is up on charon's side, or espgated has recorded an error
settled() { raw | grep -q state=INSTALLED || egd_ctl eg status partner | grep -q 'last error'; }

# up_case NAME WHO: asserts the tunnel came up on both sides with the expected identities
up_case() {
	local name=$1 who=$2 r st
	run "$who"
	r=$(raw)
	if echo "$r" | grep -q 'state=ESTABLISHED' && echo "$r" | grep -q 'state=INSTALLED' &&
		echo "$r" | grep -q "local-id=$CH_LID " && echo "$r" | grep -q "remote-id=$CH_RID "; then
		tap_ok "$name: $who initiates; strongSwan shows the SAs between $CH_LID and $CH_RID"
	else
		tap_fail "$name: SAs up with the identities" "charon: $(echo "$r" | head -c 400)"
		tail -15 "$(egd_log eg)" | sed 's/^/#   /'
	fi
	st=$(egd_ctl eg status partner 2>&1)
	if echo "$st" | grep -q ESTABLISHED && [ "$(egd_sa_count eg)" = 2 ]; then
		tap_ok "$name: espgated shows the tunnel ESTABLISHED with 2 SAs recorded"
	else
		tap_fail "$name: espgated status" "$(echo "$st" | head -5); SAs: $(egd_sa_count eg)"
	fi
	egd_stop eg
}

# Identities
defaults
EG_LID=@gw.example EG_RID=@partner.example CH_LID=partner.example CH_RID=gw.example
up_case "FQDN identities" espgate
up_case "FQDN identities" partner
defaults
EG_LID=192.0.2.1 EG_RID=@partner.example CH_LID=partner.example CH_RID=192.0.2.1
up_case "IP local_id, FQDN remote_id" partner
up_case "IP local_id, FQDN remote_id" espgate

# A partner presenting another identity than the one configured is refused.
defaults
EG_RID=@partner.example CH_LID=intruder.example CH_RID=192.0.2.1
run partner
if ! raw | grep -q 'state=INSTALLED' && [ "$(egd_sa_count eg)" = 0 ] &&
	egd_ctl eg status partner | grep -q "last error: .*identity '@intruder.example'" &&
	wait_for 2 grep -q 'received AUTHENTICATION_FAILED' "$(charon_log partner)"; then
	tap_ok "unexpected remote identity: refused (charon gets AUTHENTICATION_FAILED), espgated's last error names the identity, no SA"
else
	tap_fail "unexpected remote identity refused" "$(egd_ctl eg status partner | tail -3); charon: $(grep -i 'auth\|notify' "$(charon_log partner)" | tail -5)"
	tail -10 "$(egd_log eg)" | sed 's/^/#   /'
fi
egd_stop eg

# auth_fail_case WHO: wrong PSK on espgated's side
auth_fail_case() {
	local who=$1 st clog
	defaults
	EG_PSK="not-the-psk-at-all-0123456789"
	run "$who"
	sleep 0.5
	st=$(egd_ctl eg status partner 2>&1)
	clog=$(charon_log partner)
	if echo "$st" | grep -q 'last error: AUTHENTICATION_FAILED'; then
		tap_ok "wrong PSK, $who initiates: espgatectl status says AUTHENTICATION_FAILED"
	else
		tap_fail "wrong PSK, $who initiates: espgated reports auth failure" "$st"
		tail -10 "$(egd_log eg)" | sed 's/^/#   /'
	fi
	# charon as responder: its MAC check fails; as initiator: it gets AUTHENTICATION_FAILED
	if wait_for 2 grep -qE 'MAC mismatched|received AUTHENTICATION_FAILED|authentication of .* failed' "$clog"; then
		tap_ok "wrong PSK, $who initiates: charon's log reports the authentication failure ($(grep -oE 'MAC mismatched|received AUTHENTICATION_FAILED[^,]*|authentication of .* failed' "$clog" | head -1))"
	else
		tap_fail "wrong PSK, $who initiates: charon reports auth failure" "$(grep -iE 'auth|notify' "$clog" | tail -5)"
	fi
	if [ "$(egd_sa_count eg)" = 0 ] && ! raw | grep -q 'state=ESTABLISHED'; then
		tap_ok "wrong PSK, $who initiates: no SA recorded by espgated, no IKE SA on charon"
	else
		tap_fail "wrong PSK, $who initiates: nothing installed" "SAs: $(egd_sa_spis eg | tr '\n' ' ')"
	fi
	egd_stop eg
}
auth_fail_case espgate
auth_fail_case partner

# no_prop_case WHO: no common IKE proposal
no_prop_case() {
	local who=$1 st clog line
	defaults
	EG_IKE='aes128-sha1-modp3072!' CH_IKE=aes256-sha384-ecp384
	run "$who"
	sleep 0.3
	st=$(egd_ctl eg status partner 2>&1)
	clog=$(charon_log partner)
	if echo "$st" | grep -q 'last error: NO_PROPOSAL_CHOSEN'; then
		tap_ok "no common IKE proposal, $who initiates: espgated reports NO_PROPOSAL_CHOSEN"
	else
		tap_fail "no common IKE proposal, $who initiates: espgated reports NO_PROPOSAL_CHOSEN" "$st"
		tail -10 "$(egd_log eg)" | sed 's/^/#   /'
	fi
	if [ "$who" = partner ]; then
		# espgated responds: its log line names both sides' proposals
		line=$(grep -i 'no IKE proposal' "$(egd_log eg)" | head -1)
		if echo "$line" | grep -qi 'AES_CBC_128.*HMAC_SHA1\|aes128.*sha1' &&
			echo "$line" | grep -qi 'AES_CBC_256.*SHA2_384\|aes256.*sha384' &&
			wait_for 2 grep -q 'received NO_PROPOSAL_CHOSEN' "$clog"; then
			tap_ok "no common IKE proposal, partner initiates: espgated logs both sides' proposals, charon receives NO_PROPOSAL_CHOSEN"
		else
			tap_fail "no common IKE proposal: log names both proposals" "espgated: $line; charon: $(grep -i proposal "$clog" | tail -3)"
		fi
	else
		# charon responds: it logs received vs configured; espgated names its own
		if wait_for 2 grep -q 'received proposals: .*AES_CBC_128/HMAC_SHA1' "$clog" &&
			grep -q 'configured proposals: .*AES_CBC_256/HMAC_SHA2_384' "$clog" &&
			grep -qi 'peer chose none of our IKE proposals: .*128' "$(egd_log eg)"; then
			tap_ok "no common IKE proposal, espgate initiates: charon logs both sides' proposals, espgated logs its own"
		else
			tap_fail "no common IKE proposal: log names both proposals" "charon: $(grep -i proposals "$clog" | tail -3); espgated: $(grep -i proposal "$(egd_log eg)" | tail -2)"
		fi
	fi
	if [ "$(egd_sa_count eg)" = 0 ] && ! raw | grep -q 'state=ESTABLISHED'; then
		tap_ok "no common IKE proposal, $who initiates: nothing established or recorded"
	else
		tap_fail "no common IKE proposal, $who initiates: nothing established" "SAs: $(egd_sa_count eg)"
	fi
	egd_stop eg
}
no_prop_case espgate
no_prop_case partner

# no_esp_case WHO: IKE agrees, ESP does not: the IKE SA stays, the CHILD SA is refused
no_esp_case() {
	local who=$1 st r
	defaults
	EG_ESP='aes128gcm16!' CH_ESP=aes256-sha384
	run "$who"
	sleep 0.3
	st=$(egd_ctl eg status partner 2>&1)
	r=$(raw)
	if echo "$st" | grep -q 'last error: NO_PROPOSAL_CHOSEN' && echo "$st" | grep -q ESTABLISHED &&
		echo "$r" | grep -q 'state=ESTABLISHED' && ! echo "$r" | grep -q 'state=INSTALLED' &&
		[ "$(egd_sa_count eg)" = 0 ]; then
		tap_ok "no common ESP proposal, $who initiates: IKE SA kept on both sides, CHILD SA refused with NO_PROPOSAL_CHOSEN, no SA recorded"
	else
		tap_fail "no common ESP proposal, $who initiates" "espgated: $st; charon: $(echo "$r" | head -c 300)"
		tail -10 "$(egd_log eg)" | sed 's/^/#   /'
	fi
	egd_stop eg
}
no_esp_case espgate
no_esp_case partner
tap_done
