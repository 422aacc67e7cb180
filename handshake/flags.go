package handshake

import (
	"fmt"
	"math/bits"
	"strings"
)

// Flags is the 64-bit capability set exchanged in the 'N' messages
// (DFLAG_* in OTP's dist.hrl).
type Flags uint64

// Every distribution flag OTP 27 knows. Bits 15 and 21 are internal to ERTS
// and never appear on the wire.
const (
	FlagPublished          Flags = 1 << 0
	FlagAtomCache          Flags = 1 << 1
	FlagExtendedReferences Flags = 1 << 2
	FlagDistMonitor        Flags = 1 << 3
	FlagFunTags            Flags = 1 << 4
	FlagDistMonitorName    Flags = 1 << 5
	FlagHiddenAtomCache    Flags = 1 << 6
	FlagNewFunTags         Flags = 1 << 7
	FlagExtendedPidsPorts  Flags = 1 << 8
	FlagExportPtrTag       Flags = 1 << 9
	FlagBitBinaries        Flags = 1 << 10
	FlagNewFloats          Flags = 1 << 11
	FlagUnicodeIO          Flags = 1 << 12
	FlagDistHdrAtomCache   Flags = 1 << 13
	FlagSmallAtomTags      Flags = 1 << 14
	FlagUTF8Atoms          Flags = 1 << 16
	FlagMapTag             Flags = 1 << 17
	FlagBigCreation        Flags = 1 << 18
	FlagSendSender         Flags = 1 << 19
	FlagBigSeqtraceLabels  Flags = 1 << 20
	FlagExitPayload        Flags = 1 << 22
	FlagFragments          Flags = 1 << 23
	FlagHandshake23        Flags = 1 << 24
	FlagUnlinkID           Flags = 1 << 25
	FlagMandatory25Digest  Flags = 1 << 26
	FlagSpawn              Flags = 1 << 32
	FlagNameMe             Flags = 1 << 33
	FlagV4NC               Flags = 1 << 34
	FlagAlias              Flags = 1 << 35
	FlagLocalExt           Flags = 1 << 36
	FlagAltactSig          Flags = 1 << 37
)

// DefaultFlags is what an OTP 27 node offers over a carrier that refuses the
// atom cache (recorded as 0x0000000d07df5fbd in the vectors). We never offer
// DIST_HDR_ATOM_CACHE because the node never emits atom-cache references.
const DefaultFlags = FlagPublished | FlagExtendedReferences | FlagDistMonitor |
	FlagFunTags | FlagDistMonitorName | FlagNewFunTags | FlagExtendedPidsPorts |
	FlagExportPtrTag | FlagBitBinaries | FlagNewFloats | FlagUnicodeIO |
	FlagSmallAtomTags | FlagUTF8Atoms | FlagMapTag | FlagBigCreation |
	FlagSendSender | FlagBigSeqtraceLabels | FlagExitPayload | FlagFragments |
	FlagHandshake23 | FlagUnlinkID | FlagMandatory25Digest | FlagSpawn |
	FlagV4NC | FlagAlias

// mandatory25 is the set MANDATORY_25_DIGEST stands for (MANDATORY_DFLAGS_25
// in dist.hrl): a peer setting the digest bit has all of them.
const mandatory25 = FlagExtendedReferences | FlagFunTags | FlagExtendedPidsPorts |
	FlagNewFunTags | FlagExportPtrTag | FlagBitBinaries | FlagNewFloats |
	FlagUTF8Atoms | FlagMapTag | FlagBigCreation | FlagHandshake23

// Mandatory is the set OTP 26 and later refuse to connect without
// (erts_internal:get_dflags() reports 0x403070f94 on OTP 27.3): the OTP 25
// set plus UNLINK_ID and V4_NC.
const Mandatory = mandatory25 | FlagUnlinkID | FlagV4NC

var flagNames = [64]string{
	0: "PUBLISHED", 1: "ATOM_CACHE", 2: "EXTENDED_REFERENCES", 3: "DIST_MONITOR",
	4: "FUN_TAGS", 5: "DIST_MONITOR_NAME", 6: "HIDDEN_ATOM_CACHE", 7: "NEW_FUN_TAGS",
	8: "EXTENDED_PIDS_PORTS", 9: "EXPORT_PTR_TAG", 10: "BIT_BINARIES", 11: "NEW_FLOATS",
	12: "UNICODE_IO", 13: "DIST_HDR_ATOM_CACHE", 14: "SMALL_ATOM_TAGS", 16: "UTF8_ATOMS",
	17: "MAP_TAG", 18: "BIG_CREATION", 19: "SEND_SENDER", 20: "BIG_SEQTRACE_LABELS",
	22: "EXIT_PAYLOAD", 23: "FRAGMENTS", 24: "HANDSHAKE_23", 25: "UNLINK_ID",
	26: "MANDATORY_25_DIGEST", 32: "SPAWN", 33: "NAME_ME", 34: "V4_NC", 35: "ALIAS",
	36: "LOCAL_EXT", 37: "ALTACT_SIG",
}

// String lists the set flags by their OTP names, lowest bit first, joined by
// '|'; bits without a name print as hex.
func (f Flags) String() string {
	if f == 0 {
		return "none"
	}
	var b strings.Builder
	for rest := uint64(f); rest != 0; rest &= rest - 1 {
		bit := bits.TrailingZeros64(rest)
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		if name := flagNames[bit]; name != "" {
			b.WriteString(name)
		} else {
			fmt.Fprintf(&b, "0x%x", uint64(1)<<bit)
		}
	}
	return b.String()
}

// Has reports whether every flag in want is set in f.
func (f Flags) Has(want Flags) bool { return f&want == want }

// expand makes a peer's MANDATORY_25_DIGEST count as the flags it replaces,
// as dist_util:expand_mandatory_25_flag does before any check.
func (f Flags) expand() Flags {
	if f&FlagMandatory25Digest != 0 {
		return f | mandatory25
	}
	return f
}
